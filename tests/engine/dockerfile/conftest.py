"""BuildKit's conformance cases are an extra: collected only when their data is given."""

import os

collect_ignore = (
    [] if os.environ.get("NBDOCKER_CONFORMANCE_DIR") else ["test_buildkit_conformance.py"]
)
