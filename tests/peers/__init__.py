"""Real local peers the tests run against (fake providers speaking the documented formats)."""
