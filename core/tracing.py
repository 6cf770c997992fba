"""Optional OpenTelemetry tracing, on when `OTEL_EXPORTER_OTLP_ENDPOINT` is set.

Without that variable nothing of OpenTelemetry is imported or started, and every helper here is
a no-op: `configure_from_environment()` is called by `CoreConfig.ready()` in every process (web,
worker, beat, relay, consumers, commands).

With it, spans are exported over OTLP/HTTP (the SDK reads the standard `OTEL_*` variables:
endpoint, headers, `OTEL_SERVICE_NAME`, sampling) for:
- HTTP requests (opentelemetry-instrumentation-django; health and metrics probes excluded);
- Celery jobs, publish and run (opentelemetry-instrumentation-celery; context in task headers);
- the event path: the services' transaction stores the current context (`traceparent`,
  `tracestate`) in each outbox row's headers (`trace_headers()`); the relay publishes each row
  in a "<topic> publish" span, child of that stored context, whose context replaces it in the
  Kafka headers (`publish_headers()`); the consumer runner handles a record in a
  "<topic> process" span, child of the headers' context (`consume_span()`). So one trace runs
  from the request through the outbox and Kafka into every consumer, and on into the events and
  jobs the consumer causes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator, Mapping
from typing import Any

logger = logging.getLogger(__name__)

ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
DEFAULT_SERVICE_NAME = "todo-backend"
# Probes are scraped every few seconds: a span each would drown the traces that matter.
EXCLUDED_URLS = "healthz,readyz,metrics"
TRACE_HEADERS = ("traceparent", "tracestate")

_lock = threading.Lock()
_tracer: Any = None  # an opentelemetry Tracer while tracing is on


def enabled() -> bool:
    return _tracer is not None


def configure_from_environment() -> bool:
    """Turn tracing on when OTEL_EXPORTER_OTLP_ENDPOINT is set; returns whether it is on."""
    if not os.environ.get(ENDPOINT_VARIABLE, "").strip():
        return False
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    return configure(processor=BatchSpanProcessor(OTLPSpanExporter()))


def configure(*, processor: Any, set_global: bool = True) -> bool:
    """Trace into `processor` (an SDK SpanProcessor). Idempotent: a second call keeps the first
    configuration. Tests pass a SimpleSpanProcessor over an in-memory exporter and
    `set_global=False`, and call `unconfigure()` afterwards."""
    global _tracer
    with _lock:
        if _tracer is not None:
            return True
        from opentelemetry import trace
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider

        # Resource.create reads OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, which win.
        resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME") or DEFAULT_SERVICE_NAME})
        provider = TracerProvider(resource=resource)
        provider.add_span_processor(processor)
        if set_global:
            trace.set_tracer_provider(provider)
        DjangoInstrumentor().instrument(tracer_provider=provider, excluded_urls=EXCLUDED_URLS)
        CeleryInstrumentor().instrument(tracer_provider=provider)
        _tracer = provider.get_tracer(__name__)
        logger.info("OpenTelemetry tracing on")
        return True


def unconfigure() -> None:
    """Undo `configure` (tests only: a process that traces keeps tracing)."""
    global _tracer
    with _lock:
        if _tracer is None:
            return
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().uninstrument()
        CeleryInstrumentor().uninstrument()
        _tracer = None


def trace_headers() -> dict[str, str]:
    """The current trace context as headers (`traceparent`, maybe `tracestate`); {} when
    tracing is off or no span is active."""
    if _tracer is None:
        return {}
    from opentelemetry import propagate

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {name: value for name, value in carrier.items() if name in TRACE_HEADERS}


def publish_headers(headers: Mapping[str, str], *, topic: str, event_type: str = "") -> dict[str, str]:
    """`headers` with their trace context replaced by a "<topic> publish" span's, child of the
    context they carry (the one stored with the outbox row). Unchanged when tracing is off."""
    if _tracer is None:
        return dict(headers)
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    parent = propagate.extract(dict(headers))
    with _tracer.start_as_current_span(
        f"{topic} publish",
        context=parent,
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.destination.name": topic, "cloudevents.type": event_type},
    ):
        return {**{k: v for k, v in headers.items() if k not in TRACE_HEADERS}, **trace_headers()}


@contextlib.contextmanager
def consume_span(headers: Mapping[str, str], *, topic: str, group: str, event_type: str = "") -> Iterator[None]:
    """A "<topic> process" span around handling one record, child of the context in its
    headers; nothing when tracing is off."""
    if _tracer is None:
        yield
        return
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    parent = propagate.extract(dict(headers))
    with _tracer.start_as_current_span(
        f"{topic} process",
        context=parent,
        kind=SpanKind.CONSUMER,
        attributes={
            "messaging.system": "kafka",
            "messaging.destination.name": topic,
            "messaging.consumer.group.name": group,
            "cloudevents.type": event_type,
        },
    ):
        yield
