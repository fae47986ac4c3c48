"""Process entry point: ``jamjet-gateway`` / ``python -m services.gateway``.

``python -m services.gateway hash-token <token>`` prints the SHA-256 to configure for a token.
"""

from __future__ import annotations

import sys

from jamjet_common.service import run_main
from services.gateway.service import GatewayService
from services.gateway.tokens import token_hash


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "hash-token":
        print(token_hash(sys.argv[2]))
        return
    run_main(GatewayService.from_env)


if __name__ == "__main__":
    main()
