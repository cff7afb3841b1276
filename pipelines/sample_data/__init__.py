"""Deterministic sample data: a believable Nordic B2B sales org as landing files.

``generate_sample_org(out)`` writes reps, web visits, calls, emails, meetings and opportunity
snapshots that follow docs/landing-contract.md. The model: Norwegian reps in 3-6 regional teams
(a fifth of them top performers who call more, connect and convert better and win bigger deals),
calls and emails on Norwegian working days in Oslo business hours, web traffic every day by
channel, inbound meetings requested from web visits, outbound meetings booked on connected calls,
referral meetings, opportunities from held meetings that close won or lost weeks later. With
``dirty=True`` a small, known set of contract-breaking rows and exact re-deliveries is added and
reported in the returned ``SampleSummary``.

Importing this package does no I/O.
"""

from .dirty import ExpectedReject
from .generator import SampleSummary, generate_sample_org

__all__ = ["ExpectedReject", "SampleSummary", "generate_sample_org"]
