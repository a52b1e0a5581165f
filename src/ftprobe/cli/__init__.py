"""The `ftprobe` command line: typed dataclasses turned into argparse sub-commands."""
