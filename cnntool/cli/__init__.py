"""The `cnntool` command: thin typer layers over the library; one place turns errors into exits."""
