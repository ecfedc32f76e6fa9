"""`python -m bot` is the `cohort` command."""

from bot.cli.main import main

if __name__ == "__main__":
    main()
