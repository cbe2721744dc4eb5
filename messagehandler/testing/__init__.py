"""The testing kit shipped with messagehandler: see the "Testing your application" page.

- `given(...).when(...).then(...)` for aggregates, and `recorded` to stamp events as a store would;
  both need nothing but the core.
- A pytest plugin (loaded automatically once the package is installed): the `azurite` fixture starts a
  private Azurite for the session, `azurite_table` gives each test a fresh table
  (`messagehandler.testing.plugin`, `messagehandler.testing.azurite`).
- The contract suites as base classes (`messagehandler.testing.event_source`, `.outbox`, `.snapshots`,
  `.lifecycle`, `.channel`),
  so your own event source or channel proves itself against the same tests as the built-in ones; they
  need pytest and pytest-asyncio: install the `testing` extra.
- `RequestLog` counts the requests an Azure SDK client sends (its `raw_request_hook`), for tests that
  pin how many round trips an operation costs.
"""

from messagehandler.testing.recording import recorded
from messagehandler.testing.requests import RequestLog, SentRequest
from messagehandler.testing.scenario import Outcome, Scenario, given

__all__ = ["Outcome", "RequestLog", "Scenario", "SentRequest", "given", "recorded"]
