"""`manage.py message publish|tail`: publish a message, or follow messages and deliveries live."""

import json
import sys
import time
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError

from apps.core.management.base import SwitchboardCommand
from apps.publishing import services
from apps.publishing.tail import SubscriptionTail, TopicTail
from apps.topology import selectors as topology_selectors


class Command(SwitchboardCommand):
    help = (
        "Publish a message through publish() (`message publish TOPIC [PAYLOAD]`, the payload as JSON from the "
        "argument, --file or stdin), or follow a topic's messages or a subscription's deliveries as they happen "
        "(`message tail --topic T | --subscription S`). Exit status: 0 done, 1 refused or failed, 2 bad usage."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        commands = parser.add_subparsers(dest="action", required=True, metavar="{publish,tail}")
        publish = commands.add_parser("publish", help="Publish one message.")
        publish.add_argument("topic")
        publish.add_argument("payload", nargs="?", help="The payload as JSON; '-' or nothing reads stdin.")
        publish.add_argument("--file", type=Path, help="Read the payload (JSON) from this file.")
        publish.add_argument("--attribute", action="append", default=[], metavar="NAME=VALUE", help="Repeatable.")
        publish.add_argument("--key", help="The message key (ordering and partitioning by the consumer).")
        publish.add_argument("--idempotency-key", help="Publish once per key; a repeat returns the first message.")
        publish.add_argument("--delay", type=float, dest="delay_seconds", help="Deliver no sooner than in S seconds.")
        publish.add_argument("--ttl", type=float, dest="ttl_seconds", help="Dead-letter (expired) after S seconds.")
        publish.add_argument("--json", action="store_true", help="Print the receipt as JSON.")
        tail = commands.add_parser("tail", help="Follow messages or deliveries (Ctrl-C stops).")
        follow = tail.add_mutually_exclusive_group(required=True)
        follow.add_argument("--topic", help="New messages of this topic and how their deliveries end.")
        follow.add_argument("--subscription", help="How this subscription's deliveries end, and their retries.")
        tail.add_argument("--interval", type=float, default=0.5, help="Seconds between polls (default %(default)s).")
        tail.add_argument("--seconds", type=float, help="Stop after this long (default: until Ctrl-C).")
        tail.add_argument("--json", action="store_true", help="One JSON object per line.")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "publish":
            self._publish(options)
        else:
            self._tail(options)

    def _publish(self, options: dict[str, Any]) -> None:
        payload = _payload(options["payload"], options["file"])
        attributes = {}
        for item in options["attribute"]:
            name, equals, value = item.partition("=")
            if not equals or not name:
                raise CommandError(f"--attribute takes NAME=VALUE, not {item!r}.")
            attributes[name] = value
        message = services.publish(
            topic=options["topic"],
            payload=payload,
            attributes=attributes,
            key=options["key"],
            idempotency_key=options["idempotency_key"],
            delay_seconds=options["delay_seconds"],
            ttl_seconds=options["ttl_seconds"],
        )
        receipt = {"id": str(message.pk), "topic": options["topic"], "published_at": message.published_at.isoformat()}
        if options["json"]:
            self.stdout.write(json.dumps(receipt))
        else:
            self.stdout.write(f"Published {receipt['id']} to {receipt['topic']} at {receipt['published_at']}.")

    def _tail(self, options: dict[str, Any]) -> None:
        tail: TopicTail | SubscriptionTail
        if options["topic"]:
            topic = topology_selectors.topic_get(name=options["topic"])
            if topic is None:
                raise topology_selectors.TopicNotFoundError(options["topic"])
            tail = TopicTail(topic)
        else:
            subscription = topology_selectors.subscription_get(name=options["subscription"])
            if subscription is None:
                raise topology_selectors.UnknownSubscriptionError(options["subscription"])
            tail = SubscriptionTail(subscription)
        deadline = None if options["seconds"] is None else time.monotonic() + options["seconds"]
        followed = f"topic {options['topic']}" if options["topic"] else f"subscription {options['subscription']}"
        self.stderr.write(f"Following {followed} from {tail.since.isoformat()}; Ctrl-C stops.")
        self.stderr.flush()
        try:
            while deadline is None or time.monotonic() < deadline:
                for event in tail.poll():
                    self.stdout.write(json.dumps(event.as_dict()) if options["json"] else event.line())
                self.stdout.flush()
                time.sleep(options["interval"])
        except KeyboardInterrupt:
            return


def _payload(argument: str | None, file: Path | None) -> Any:
    """Read the payload from the argument, the file or stdin, and parse it as JSON."""
    if argument is not None and file is not None:
        raise CommandError("Give the payload as an argument or with --file, not both.")
    if file is not None:
        try:
            text, source = file.read_text(), str(file)
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
    elif argument is not None and argument != "-":
        text, source = argument, "the payload argument"
    else:
        text, source = sys.stdin.read(), "stdin"
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CommandError(f"The payload in {source} is not JSON: {exc}.") from exc
