"""Launch a shim: ``python -S -E shim.py STATE_DIR`` (see shimsetup.py).

The code lives in sibling modules because the bytecode of a script run as
``__main__`` is never cached, and compiling it would cost milliseconds.
"""

import sys

if __name__ == "__main__":
    from shimsetup import main

    main(sys.argv)
