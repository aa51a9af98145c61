import sys

from ari_app.cli import main

sys.exit(main())
