"""(being written)"""


def register(verbs, common) -> None:
    return None
