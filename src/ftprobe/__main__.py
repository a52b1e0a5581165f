import sys

from ftprobe.cli.main import main

sys.exit(main())
