"""``python -m bot <command>``: the command line lives in :mod:`bot.ops.cli`."""

from bot.ops.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
