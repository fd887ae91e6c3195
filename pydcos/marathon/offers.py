"""Offers in, launches and declines out. Pure (part of the core, kept apart for size).

Launches go out as soon as an offer arrives: no per-launch throttle. The offers of one OFFERS
event share the waiting instances evenly (each takes at most its share of what is left), so a
thousand instances start on every agent at once rather than all on the first. When nothing waits, offers
are declined for long and offers suppressed until something waits again (then REVIVE clears
every filter); when only backed-off apps wait, offers are declined until the earliest delay ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydcos.marathon import constraints as cons
from pydcos.marathon.launch_queue import QueueEntry, UnusedOffer
from pydcos.marathon.offer_matcher import OfferView, Waiting, match_offer
from pydcos.marathon.task_builder import build_task
from pydcos.mesos.resources import from_v1
from pydcos.mesos.v1 import messages as v1

if TYPE_CHECKING:
    from pydcos.marathon.core import MarathonCore


def attribute_values(attributes: list[v1.Attribute]) -> dict[str, str]:
    out: dict[str, str] = {}
    for a in attributes:
        if a.text is not None:
            out[a.name] = a.text.value
        elif a.scalar is not None:
            out[a.name] = f"{a.scalar.value:g}"
        elif a.ranges is not None:
            out[a.name] = ",".join(f"[{r.begin}-{r.end}]" for r in a.ranges.range)
        elif a.set is not None:
            out[a.name] = "{" + ",".join(a.set.item) + "}"
    return out


def offer_view(offer: v1.Offer) -> OfferView | None:
    try:
        resources = from_v1(offer.resources)
    except ValueError:
        return None
    return OfferView(offer.id.value, offer.agent_id.value, offer.hostname, attribute_values(offer.attributes),
                     resources)


class OfferHandling:
    def __init__(self, core: MarathonCore) -> None:
        self.core = core
        self.suppressed = False

    def handle(self, offers: list[v1.Offer]) -> None:
        core = self.core
        now = core.clock.monotonic()
        ready = core.queue.waiting(now)
        if not ready:
            self._nothing_ready(offers, now)
            return
        declined: list[v1.Offer] = []
        for index, offer in enumerate(offers):
            view = offer_view(offer)
            items = self._waiting_items(ready, share=len(offers) - index)
            if view is None or not items:
                declined.append(offer)
                continue
            tasks = self._match(view, items)
            if tasks:
                refuse = 0.0 if any(e.count > 0 for e in ready) else core.config.idle_refuse_seconds
                accept = v1.Accept(offer_ids=[offer.id], operations=[
                    v1.Operation(type="LAUNCH", launch=v1.Launch(task_infos=tasks))], filters=v1.Filters(refuse))
                core.call(v1.Call(type="ACCEPT", accept=accept))
            else:
                declined.append(offer)
        if declined:
            self._decline(declined, core.config.decline_refuse_seconds)

    def _nothing_ready(self, offers: list[v1.Offer], now: float) -> None:
        core = self.core
        if not core.queue.any_waiting():
            self._decline(offers, core.config.idle_refuse_seconds)
            if not self.suppressed:
                self.suppressed = True
                core.call(v1.Call(type="SUPPRESS"))
            return
        wake = core.queue.earliest_delay_end(now)
        refuse = core.config.decline_refuse_seconds if wake is None else wake - now
        self._decline(offers, min(max(refuse, 0.5), core.config.decline_refuse_seconds))

    def _decline(self, offers: list[v1.Offer], refuse: float) -> None:
        if offers:
            self.core.call(v1.Call(type="DECLINE", decline=v1.Decline(
                offer_ids=[o.id for o in offers], filters=v1.Filters(refuse))))

    def _waiting_items(self, ready: list[QueueEntry], share: int) -> list[Waiting]:
        core = self.core
        items = []
        for entry in ready:
            app = core.root.apps.get(entry.app_id)
            if entry.count <= 0 or app is None:
                continue
            placed: list[cons.Placement] = []
            if app.constraints:
                placed = [cons.Placement(i.agent_id, i.host, i.attributes)
                          for i in core.instances.of_app(app.id) if not i.terminal]
            roles = tuple(app.accepted_resource_roles or core.config.default_accepted_roles)
            items.append(Waiting(app, -(-entry.count // share), placed, roles))
        return items

    def _match(self, view: OfferView, items: list[Waiting]) -> list[v1.TaskInfo]:
        core = self.core
        wall = core.clock.wall()
        result = match_offer(view, items)
        tasks = []
        for match in result.matches:
            instance = core.launch(match.app, view.agent_id, view.hostname, dict(view.attributes), match.host_ports)
            core.queue.entry(match.app.id).count -= 1
            tasks.append(build_task(match.app, instance.task_id, view.agent_id, view.hostname, match.resources,
                                    match.host_ports))
        for app_id in {m.app.id for m in result.matches}:
            core.queue.offer_used(app_id, wall)
        for app_id, reason in result.rejects.items():
            core.queue.offer_unused(app_id, UnusedOffer(view.offer_id, view.agent_id, view.hostname, [reason], wall))
        return tasks
