"""``python -m voxgate``: the same CLI as the ``voxgate`` command."""

from voxgate.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
