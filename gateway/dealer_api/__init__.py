"""The signed dealer top-up API: ``/api/v1/…`` and its OpenAPI document."""
