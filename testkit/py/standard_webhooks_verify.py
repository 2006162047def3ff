"""Verifies webhook deliveries with the Standard Webhooks reference library (PyPI `standardwebhooks`), not with
the project's own code.

Usage: standard_webhooks_verify.py SECRET FILE
FILE is a JSON list of {"headers": {name: value}, "body": "<the request body as received>"}.
Prints one JSON object: {"valid": [<the verified payloads>], "invalid": [<error of each refused one>]}.
"""

import json
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


def main() -> None:
    secret, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        messages = json.load(f)
    wh = Webhook(secret)
    valid, invalid = [], []
    for m in messages:
        try:
            valid.append(wh.verify(m["body"], m["headers"]))
        except WebhookVerificationError as e:
            invalid.append(str(e))
    json.dump({"valid": valid, "invalid": invalid}, sys.stdout)


if __name__ == "__main__":
    main()
