"""Vocabulary of the sample org: Norwegian names, sales teams, web pages, channels, campaigns."""

from __future__ import annotations

from dataclasses import dataclass

FIRST_NAMES: tuple[str, ...] = (
    "Ola", "Kari", "Nora", "Emma", "Jakob", "Emil", "Noah", "Oliver", "Filip", "William",
    "Lukas", "Henrik", "Sander", "Magnus", "Mathias", "Tobias", "Jonas", "Andreas", "Martin",
    "Kristian", "Eirik", "Håkon", "Sindre", "Vegard", "Torstein", "Øyvind", "Bjørn", "Lars",
    "Per", "Knut", "Geir", "Trond", "Svein", "Stian", "Thomas", "Marius", "Espen", "Anders",
    "Ole", "Erik", "Sofie", "Ingrid", "Sara", "Maja", "Ida", "Thea", "Ella", "Hedda", "Astrid",
    "Sigrid", "Silje", "Marte", "Hanne", "Kristin", "Camilla", "Ingvild", "Tone", "Line", "Guro",
    "Solveig", "Åse", "Ragnhild", "Tuva", "Julie", "Mari", "Linn", "Marit", "Anne", "Hilde",
    "Synnøve", "Frida", "Aurora", "Vilde", "Mia", "Runa", "Ylva",
)  # fmt: skip

LAST_NAMES: tuple[str, ...] = (
    "Hansen", "Johansen", "Olsen", "Larsen", "Andersen", "Pedersen", "Nilsen", "Kristiansen",
    "Jensen", "Karlsen", "Johnsen", "Pettersen", "Eriksen", "Berg", "Haugen", "Hagen",
    "Johannessen", "Andreassen", "Jacobsen", "Dahl", "Jørgensen", "Halvorsen", "Henriksen",
    "Lund", "Sørensen", "Moen", "Gundersen", "Iversen", "Strand", "Solberg", "Svendsen", "Eide",
    "Knutsen", "Martinsen", "Paulsen", "Bakken", "Kristoffersen", "Mathisen", "Lie", "Amundsen",
    "Nguyen", "Rasmussen", "Ali", "Lunde", "Solheim", "Berge", "Moe", "Nygård", "Bakke",
    "Fredriksen", "Holm", "Lien", "Hauge", "Knudsen", "Evensen", "Sæther", "Aas", "Myhre",
    "Haugland", "Thomassen", "Sivertsen", "Simonsen", "Sandvik", "Rønning", "Næss", "Vik",
    "Ellingsen", "Birkeland", "Ruud", "Strøm", "Myklebust", "Tangen", "Ødegård", "Helland",
    "Bøe", "Aune", "Tveit", "Brekke",
)  # fmt: skip


@dataclass(frozen=True)
class Team:
    """A sales team: its name, region and typical deal-size multiplier."""

    name: str
    region: str
    deal_size: float


# In the order teams are added as the org grows (3 teams for small orgs, up to 6).
TEAMS: tuple[Team, ...] = (
    Team("Oslo Enterprise", "Øst", 1.45),
    Team("Bergen Mid-Market", "Vest", 1.0),
    Team("Trondheim SMB", "Midt", 0.6),
    Team("Stavanger Energy", "Vest", 1.3),
    Team("Tromsø Nord", "Nord", 0.8),
    Team("Kristiansand SMB", "Sør", 0.65),
)

CHANNELS: tuple[str, ...] = ("organic", "paid", "social", "email", "referral", "direct", "other")
CHANNEL_SHARE: tuple[float, ...] = (0.35, 0.15, 0.10, 0.08, 0.09, 0.18, 0.05)

LANDING_PAGES: tuple[str, ...] = (
    "/", "/pricing", "/demo", "/product", "/product/analytics", "/customers",
    "/integrations/hubspot", "/contact", "/blog/cold-calling-playbook",
    "/blog/sales-funnel-benchmarks", "/blog/pipeline-hygiene", "/blog/nordic-b2b-buying",
    "/careers",
)  # fmt: skip

# Landing-page weights per channel (rows follow CHANNELS, columns follow LANDING_PAGES).
PAGE_WEIGHTS: tuple[tuple[float, ...], ...] = (
    (10, 6, 2, 6, 4, 3, 3, 2, 16, 18, 14, 12, 4),  # organic
    (14, 20, 16, 14, 8, 6, 4, 4, 3, 4, 2, 3, 2),  # paid
    (10, 4, 2, 6, 3, 6, 2, 1, 18, 16, 12, 14, 6),  # social
    (8, 10, 8, 10, 6, 8, 6, 3, 12, 12, 9, 6, 2),  # email
    (20, 12, 8, 12, 6, 14, 10, 6, 3, 3, 2, 2, 2),  # referral
    (40, 14, 6, 10, 4, 6, 3, 8, 2, 2, 1, 1, 3),  # direct
    (20, 8, 4, 10, 6, 8, 6, 4, 8, 8, 6, 6, 6),  # other
)  # fmt: skip

# Chance that a visit landing on the page ends in a booked meeting (the inbound funnel).
MEETING_REQUEST_P: tuple[float, ...] = (
    0.00012, 0.0015, 0.010, 0.0004, 0.0004, 0.0005, 0.00025, 0.006, 0.00005, 0.00005, 0.00005,
    0.00005, 0.0,
)  # fmt: skip

# Campaigns: index 0 is "no campaign"; "{month}" is replaced by the visit's YYYY-MM.
CAMPAIGNS: tuple[str, ...] = (
    "",
    "google-brand-no",
    "google-generic-sales-analytics",
    "linkedin-abm-enterprise",
    "linkedin-leadgen-energy",
    "newsletter-{month}",
    "webinar-invite-pipeline-review",
    "nurture-trial-followup",
    "linkedin-organic",
    "meta-retargeting",
    "partner-portal",
)

# Campaign weights per channel (rows follow CHANNELS, columns follow CAMPAIGNS).
CAMPAIGN_WEIGHTS: tuple[tuple[float, ...], ...] = (
    (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),  # organic
    (8, 40, 22, 18, 12, 0, 0, 0, 0, 0, 0),  # paid
    (55, 0, 0, 0, 0, 0, 0, 0, 30, 15, 0),  # social
    (5, 0, 0, 0, 0, 70, 15, 10, 0, 0, 0),  # email
    (88, 0, 0, 0, 0, 0, 0, 0, 0, 0, 12),  # referral
    (1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0),  # direct
    (70, 0, 0, 0, 0, 0, 0, 0, 0, 0, 30),  # other
)  # fmt: skip
