#!/usr/bin/env python3
"""A client-reply agent gated by handoff (Python SDK).

It drafts a reply to a client's question, submits it for approval, waits (long-poll) for a
person in the `sales` team to approve, edit or reject it, and sends the reply only when
approved: the reviewer's edited text when they edited it. The outcome is reported by the
SDK.

    pip install ./sdk/python
    export HANDOFF_URL=http://127.0.0.1:8080 HANDOFF_KEY=hk_…   # an agent key
    python examples/python_agent.py --to ceo@acme.example --client "Acme Corp" \\
        "Can you send me a copy of the March invoice?"

Then decide in the web inbox (http://127.0.0.1:8080/, as `ana`) or with the CLI
(`HANDOFF_KEY=$ANA handoff decide hnd_… approve`). No model is needed: the drafting step
is a template here; put your LLM call in `draft_reply`.
"""

from __future__ import annotations

import argparse
import os
import sys

from handoff import Client, DecisionTimeout, Handoff, NotApproved, requires_approval


def draft_reply(client_name: str, question: str) -> "tuple[str, float]":
    """The agent's drafting step (an LLM call in a real agent): a reply and a confidence."""
    q = question.lower()
    if "invoice" in q:
        return (f"Hello {client_name},\n\nThe copy of the invoice is attached. "
                "Let us know if anything is missing.\n\nBest regards"), 0.93
    return (f"Hello {client_name},\n\nThank you for your question; we will come back to you "
            "shortly with the details.\n\nBest regards"), 0.7


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("question", help="the client's question")
    p.add_argument("--to", required=True, help="the client's e-mail address")
    p.add_argument("--client", default="there", help="the client's name")
    p.add_argument("--timeout", type=float, default=None, help="seconds to wait (default: for good)")
    args = p.parse_args()

    url = os.environ.get("HANDOFF_URL", "http://127.0.0.1:8080")
    key = os.environ.get("HANDOFF_KEY")
    if not key:
        print("set HANDOFF_KEY to an agent key", file=sys.stderr)
        return 2

    body, confidence = draft_reply(args.client, args.question)

    with Client(url, key) as handoff:

        def announce(h: Handoff) -> None:
            ev = h.evaluation
            print(f"submitted {h.id}: level {ev.get('level')}, routed to {ev.get('route')}; "
                  f"decide at {url}/handoffs/{h.id}", flush=True)

        @requires_approval(
            handoff,
            task="respond_to_client_inquiry",
            summary=f"Reply to {args.client}: {args.question[:200]}",
            subject=args.client,
            confidence=confidence,
            decision_needed="Send this reply to the client?",
            timeout=args.timeout,
            on_submit=announce,
        )
        def send_reply(to: str, body: str) -> None:
            # The real action (an e-mail API call) goes here. It runs only once approved,
            # with the approved text.
            print(f"sent to {to}:\n{body}", flush=True)

        try:
            send_reply(args.to, body)
        except NotApproved as e:  # rejected, expired, cancelled, handed over, …
            print(f"not sent: {e.status}" + (f" ({e.rationale})" if e.rationale else ""))
            return 1
        except DecisionTimeout as e:
            print(f"not sent: no decision within {e.timeout:g}s (the handoff was cancelled)")
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
