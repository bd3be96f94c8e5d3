# Typographic apostrophes and quotes in the prose below are deliberate.
# ruff: noqa: RUF001
"""Article data for the demo news site.

Everything here is original fiction set in the imaginary harbour city of
Amaran. Names of people, companies and places are invented.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

Access = Literal["metered", "sponsored", "premium"]


@dataclass(frozen=True, slots=True)
class Article:
    """One story. ``paragraphs`` is the gated body, in reading order."""

    slug: str
    section: str
    headline: str
    standfirst: str
    byline: str
    published: date
    paragraphs: tuple[str, ...]
    access: Access = "metered"
    #: Optional ``(index, text)``: render an ``<h2>`` before ``paragraphs[index]``.
    subheading: tuple[int, str] | None = None

    @property
    def path(self) -> str:
        """URL path the demo site serves this article at."""
        prefix = {"metered": "articles", "sponsored": "sponsored", "premium": "premium"}
        return f"/{prefix[self.access]}/{self.slug}"

    @property
    def plain_text(self) -> str:
        """Full plain text of the body: paragraphs separated by blank lines."""
        return "\n\n".join(self.paragraphs)


ARTICLES: tuple[Article, ...] = (
    Article(
        slug="harbour-ferries-go-electric",
        section="City",
        headline="Harbour ferries go electric as first battery fleet enters service",
        standfirst=(
            "Six silent vessels now cross between Old Quay and Tanjong Rise, and the "
            "operator says the diesel fleet will be gone within four years."
        ),
        byline="Mei Lin Varga",
        published=date(2026, 3, 2),
        paragraphs=(
            "The first of Amaran’s battery-powered ferries slipped away from the Old Quay "
            "pier at 6.10am on Monday, carrying 212 commuters and almost no noise. "
            "Regular passengers, used to the shudder of the old diesel engines, said the "
            "loudest sound on board was the coffee machine.",
            "Harbourline, the private operator that holds the cross-harbour franchise, has "
            "put six electric vessels into service on its busiest route. Each boat charges "
            "for eight minutes at either end of the crossing through a robotic arm that "
            "clamps onto the roof while passengers disembark.",
            "The company says the new fleet cuts fuel and maintenance costs by roughly a "
            "third, savings it has promised not to pass on as fare rises until at least "
            "2028. Its chief executive, Daniel Ochoa-Lim, called the launch “the least "
            "dramatic revolution the harbour has ever seen”.",
            "Not everyone is convinced the grid is ready. The Amaran Power Company has had "
            "to install a dedicated substation beside each pier, and engineers warn that "
            "the remaining routes to the outlying islands will need far larger batteries.",
            "Residents of the waterfront towers along Tanjong Rise have been quicker to "
            "pass judgement. “For twenty years I have closed my windows at six in the "
            "morning,” said retired teacher Rosa Hamid. “This week I forgot to.”",
            "Harbourline plans to convert its remaining fourteen diesel ferries by 2030. "
            "The city’s transport bureau will publish noise and air-quality readings from "
            "the piers every quarter so the public can judge the results for itself.",
        ),
    ),
    Article(
        slug="monetary-authority-holds-rates",
        section="Markets",
        headline="Monetary authority holds rates and signals patience on property",
        standfirst=(
            "Policymakers kept the benchmark at 3.25 per cent for a fourth meeting, "
            "saying cooling home prices are a feature rather than a problem."
        ),
        byline="Arjun Castellano",
        published=date(2026, 3, 11),
        paragraphs=(
            "The Amaran Monetary Authority left its benchmark lending rate unchanged at "
            "3.25 per cent on Wednesday, as widely expected. It was the fourth consecutive "
            "meeting without a move, the longest pause since the authority began "
            "publishing its decisions on a fixed calendar.",
            "In a statement, the authority said inflation had eased to 2.4 per cent and "
            "that a gentle decline in home prices was “consistent with a healthier housing "
            "market”. Two of the seven board members voted for a quarter-point cut, up from "
            "one at the previous meeting.",
            "Bond traders took the split vote as a sign that easing could arrive by the "
            "summer. The yield on two-year government notes fell six basis points in "
            "afternoon trading, while the Quay 40 share index closed 0.8 per cent higher.",
            "Property developers had lobbied hard for relief. Sales of new flats fell by a "
            "fifth in the last quarter of 2025, and several listed builders have delayed "
            "launches in the Eastern Reclamation district until borrowing costs fall.",
            "Governor Helen Adeyemi-Roth told reporters the authority would not be rushed. "
            "“We would rather be a little late than have to reverse ourselves,” she said, "
            "adding that wage growth in the services sector remained firmer than expected.",
            "Economists at Lantern Securities now expect the first cut in June. They "
            "cautioned, however, that a weaker currency or a jump in shipping costs could "
            "easily push that date back again.",
        ),
    ),
    Article(
        slug="chip-packaging-plant-to-hire",
        section="Technology",
        headline="Chip packaging plant on the Eastern Reclamation to hire 1,800",
        standfirst=(
            "Norrvik Semiconductor picked Amaran over two regional rivals for its advanced "
            "packaging line, citing the port and a deep pool of technicians."
        ),
        byline="Sunita Okafor",
        published=date(2026, 3, 19),
        paragraphs=(
            "Norrvik Semiconductor will build an advanced chip packaging plant on the "
            "Eastern Reclamation, creating about 1,800 jobs by the end of 2028. The "
            "company confirmed the site on Thursday after months of speculation that it "
            "was weighing locations elsewhere in the region.",
            "Packaging is the final stage of chip making, in which finished silicon dies "
            "are stacked, wired together and sealed. It has become one of the most "
            "contested parts of the industry as artificial intelligence processors demand "
            "ever more intricate arrangements of memory and logic.",
            "The investment is valued at about $2.1bn over five years. The city’s "
            "development board will contribute training grants and a subsidised land "
            "lease, though officials declined to say how large the package was.",
            "Norrvik’s regional head, Tomas Ferreira-Ng, said proximity to the container "
            "port had been decisive. “Our customers want parts in days, not weeks,” he "
            "said. “Being twenty minutes from a berth matters more than people think.”",
            "Polytechnic colleges have already begun redesigning courses to meet demand. "
            "The Amaran Institute of Technology said it would double its intake for "
            "microelectronics diplomas from September.",
            "Labour groups welcomed the news but asked for clarity on shift patterns. "
            "Packaging lines run around the clock, and unions want guarantees on night "
            "allowances before the first recruits sign contracts.",
        ),
    ),
    Article(
        slug="lantern-street-hawkers-reprieve",
        section="City",
        headline="Lantern Street hawkers win a reprieve in licence overhaul",
        standfirst=(
            "A plan to cap the night market at sixty stalls has been shelved after "
            "vendors gathered 40,000 signatures in a fortnight."
        ),
        byline="Grace Moreau-Tan",
        published=date(2026, 3, 24),
        paragraphs=(
            "The stallholders of Lantern Street night market will keep their pitches "
            "after the city council dropped a proposal to cut the number of licences by "
            "almost half. The plan had been intended to ease crowding on the narrow "
            "street, which draws up to 15,000 visitors on a busy Saturday.",
            "Vendors responded to the proposal with a petition that gathered more than "
            "40,000 signatures in two weeks. Many signatories were tourists who had "
            "scanned a code printed on paper bags handed out with skewers and sugar cane "
            "juice.",
            "Councillor Omar Lindqvist, who chairs the markets committee, said the "
            "council had “heard the street loud and clear”. Instead of a cap, the market "
            "will close one side road to traffic and add a second entrance near the "
            "tram stop.",
            "Licences will also become transferable within families for the first time. "
            "Several vendors said that change mattered more to them than the cap, because "
            "children who had worked on stalls for years could not inherit them.",
            "Mrs Ah-Young Bastos, who has sold grilled squid on the corner for 31 years, "
            "said she had expected to retire this spring. “Now my daughter can take over "
            "and I can complain about her prices instead,” she said.",
        ),
    ),
    Article(
        slug="automated-cranes-port-productivity",
        section="Business",
        headline="Automated cranes lift port productivity, but dockworkers want guarantees",
        standfirst=(
            "The container terminal moved a record number of boxes in February. The "
            "union says the gains must be shared before the next phase begins."
        ),
        byline="Kwame Halvorsen",
        published=date(2026, 4, 1),
        paragraphs=(
            "Amaran’s main container terminal handled 412,000 standard boxes in February, "
            "a monthly record, after a fleet of remotely operated cranes came fully "
            "online. Ships now spend an average of 19 hours at berth, down from 26 a year "
            "ago.",
            "The cranes are controlled from a glass-walled office two kilometres inland, "
            "where operators sit at screens rather than in cabins forty metres above the "
            "quay. The port authority says injuries have fallen sharply since the switch.",
            "The Amaran Dockworkers’ Union is less enthusiastic about what comes next. "
            "The authority is due to tender a second phase this summer that would automate "
            "the trucks that shuttle containers around the yard.",
            "Union secretary Priya Delacroix said members were not opposed to technology "
            "but wanted written commitments on retraining and redeployment. “We helped "
            "make this record,” she said. “We would like to still be here for the next one.”",
            "Port officials point out that no permanent jobs were lost in the first "
            "phase, as crane drivers moved into remote operating roles. They concede the "
            "yard trucks employ far more people, and that the arithmetic will be harder.",
            "Talks between the two sides are scheduled to resume next week. Shipping lines "
            "are watching closely, since any industrial action would arrive just as the "
            "peak season for regional trade begins.",
        ),
    ),
    Article(
        slug="insurers-rethink-typhoon-cover",
        section="Business",
        headline="Insurers rethink typhoon cover after the wettest September on record",
        standfirst=(
            "Premiums for ground-floor shops in low-lying districts could rise by up to "
            "40 per cent, brokers warn, as firms redraw their flood maps."
        ),
        byline="Lucía Wanjiru",
        published=date(2026, 4, 8),
        paragraphs=(
            "Small businesses in Amaran’s low-lying districts face steep increases in "
            "insurance costs this year as underwriters absorb the lessons of last "
            "September. Three typhoons in as many weeks dropped more rain on the city than "
            "any month since records began in 1884.",
            "Brokers say renewal quotes for ground-floor shops near the old harbour wall "
            "are arriving 25 to 40 per cent higher. Some insurers have stopped offering "
            "flood cover altogether in parts of the Old Quay, where water reached waist "
            "height twice.",
            "The industry body, the Amaran Insurance Federation, said members were "
            "redrawing flood maps using street-level sensor data rather than decades-old "
            "surveys. “The old maps assumed the drains would cope,” said its director, "
            "Victor Osei-Lund. “They did not.”",
            "Shopkeepers argue they are being punished for the city’s failure to upgrade "
            "drainage. A stormwater tunnel beneath the Old Quay was approved in 2019 but "
            "is not due to open until 2029.",
            "The government is considering a public reinsurance pool, similar to schemes "
            "in other flood-prone economies, that would cap premiums for small firms. A "
            "consultation paper is expected before the next typhoon season begins in June.",
        ),
    ),
    Article(
        slug="schools-trial-multilingual-ai-tutor",
        section="Technology",
        headline="Schools trial an AI tutor that speaks four of the city’s languages",
        standfirst=(
            "Forty primary schools will test the homework assistant this term. Teachers "
            "are cautiously curious; parents are split."
        ),
        byline="Hana Okonkwo-Reyes",
        published=date(2026, 4, 14),
        paragraphs=(
            "Forty state primary schools have begun a term-long trial of an artificial "
            "intelligence homework tutor that can explain maths and science in English, "
            "Malay, Tamil and Cantonese. The education bureau says it is the first such "
            "trial in the region conducted across all four of a city’s main languages.",
            "The tool, built by local start-up Slate & Chalk, answers pupils’ questions "
            "with hints rather than solutions. Teachers can see every conversation and "
            "flag answers they disagree with, which are then reviewed by the company.",
            "Early feedback from classrooms has been mixed but curious. One mathematics "
            "teacher in Sennett Hill said the tutor was patient in a way she could not "
            "always be with thirty-two children, but that it sometimes over-explained.",
            "Parents are more divided. A survey by the Amaran Parents’ Association found "
            "that 46 per cent welcomed the trial, while 38 per cent worried about screen "
            "time and the handling of children’s data.",
            "The bureau insists that no conversations leave servers located in the city "
            "and that records will be deleted at the end of each school year. An "
            "independent review of the trial will be published in the autumn.",
            "Slate & Chalk’s founder, Irfan Takahashi-Bell, said the hardest part had not "
            "been the languages but the jokes. “Ten-year-olds test everything,” he said. "
            "“The tutor had to learn to laugh politely and then return to fractions.”",
        ),
    ),
    Article(
        slug="maritime-museum-reopens",
        section="Culture",
        headline="Maritime museum reopens with a hall devoted to the lost shipyards",
        standfirst=(
            "After a three-year refit, the museum on Customs Point tells the story of the "
            "workers who built the harbour’s ships, not just the merchants who sailed them."
        ),
        byline="Elena Mwangi-Sato",
        published=date(2026, 4, 18),
        paragraphs=(
            "The Amaran Maritime Museum reopened its doors on Saturday after a three-year "
            "renovation. Queues stretched along the Customs Point promenade well before "
            "the first visitors were admitted at ten o’clock.",
            "The centrepiece is a new hall dedicated to the Marrow Point shipyards, which "
            "employed more than 9,000 people at their peak before closing in 1987. "
            "Curators spent two years recording interviews with former riveters, welders "
            "and canteen staff.",
            "Their voices play from speakers hidden in a full-scale section of hull "
            "suspended from the ceiling. Visitors can stand beneath it and hear a "
            "welder describe the heat, or a tea lady recall the lunchtime card games.",
            "Director Samuel Achterberg said the old museum had told the city’s story "
            "“from the captain’s chair”. The new galleries, he said, were meant to show "
            "that the harbour was built from below deck as much as from the bridge.",
            "Admission remains free for residents. The museum expects half a million "
            "visitors in its first year and will stay open until nine o’clock on Friday "
            "evenings through the summer.",
        ),
    ),
    Article(
        slug="old-quay-crew-wins-regatta",
        section="Sport",
        headline="Old Quay crew ends an eleven-year drought at the harbour regatta",
        standfirst=(
            "A boat of dockworkers, nurses and one accountant beat the defending "
            "champions by a third of a second in the dragon boat final."
        ),
        byline="Marcus Liang-Oduya",
        published=date(2026, 5, 3),
        paragraphs=(
            "The Old Quay Dragon Boat Club won the open final of the Amaran Harbour "
            "Regatta on Sunday, its first title since 2015. The margin over the "
            "defending champions from Tanjong Rise was 0.31 seconds, decided by a photo "
            "at the finish.",
            "The winning crew of twenty paddlers includes six dockworkers, four nurses, "
            "a tram driver and an accountant who joined the club only eighteen months "
            "ago. They train at 5.30am three times a week before their shifts begin.",
            "Drummer Li Wen Adebayo said the crew had trailed for most of the 500-metre "
            "course. “At the last buoy I stopped counting and just shouted,” she said. "
            "“I think the whole harbour heard me.”",
            "An estimated 60,000 spectators lined the seawall for the final, the largest "
            "crowd since the regatta moved to its current course in 2009. Organisers said "
            "ferry services were doubled for the afternoon.",
            "The Old Quay club will now represent Amaran at the regional championships "
            "in August. Its captain said the crew would begin by taking a week off, "
            "before returning to the water and “pretending we are still the underdogs”.",
        ),
    ),
    Article(
        slug="data-centres-water-budget",
        section="Technology",
        headline="Data centre boom tests the city’s water budget",
        standfirst=(
            "Cooling the servers behind the region’s AI ambitions could consume as much "
            "water as 80,000 households by 2030, a utility report finds."
        ),
        byline="Tobias Nakamura-Ellis",
        published=date(2026, 5, 12),
        paragraphs=(
            "Data centres planned or under construction in Amaran could use as much water "
            "as 80,000 households by the end of the decade, according to a report by the "
            "city’s water utility. The findings have prompted calls for stricter rules on "
            "how new facilities are cooled.",
            "Most of the city’s existing server halls rely on evaporative cooling towers, "
            "which are cheap to run but lose large volumes of water to the air. Newer "
            "designs pump liquid directly to the chips in sealed loops, using far less.",
            "The utility wants all new data centres approved after 2027 to use closed-loop "
            "or seawater cooling. Operators say the rules are workable but warn that "
            "retrofitting older buildings would be slow and expensive.",
            "Amaran imports almost a third of its fresh water through a pipeline from the "
            "mainland, an arrangement that has long made supply a sensitive subject. "
            "Reservoir levels dipped below 60 per cent during last year’s dry spell.",
            "Environmental groups argue the city has courted the data centre industry "
            "without asking what it would cost in resources. The development board "
            "responds that digital infrastructure now underpins everything from banking "
            "to hospital records.",
            "A public hearing on the proposed rules is scheduled for next month. The "
            "utility’s chief engineer, Ana Brightwater, said the aim was “not to say no "
            "to servers, but to say no to wasting water on them”.",
        ),
    ),
    Article(
        slug="noodle-shop-petition",
        section="Culture",
        headline="A 70-year-old noodle shop, a rent rise and a petition that went viral",
        standfirst=(
            "Regulars of Chan Kee on Ferry Lane have raised enough to keep the lights on "
            "for a year. The landlord says he is willing to talk."
        ),
        byline="Farida Johansson",
        published=date(2026, 5, 20),
        paragraphs=(
            "For seventy years, Chan Kee has served wonton noodles from the same narrow "
            "shopfront on Ferry Lane. Last month its owners learned that the rent would "
            "almost double when the lease expires in July.",
            "A photograph of the notice taped to the door, posted by a regular customer, "
            "was shared more than 200,000 times in three days. Within a week an online "
            "fundraiser had collected enough to cover the increase for twelve months.",
            "The shop is run by Chan Siu-Ming, 68, and his son Kelvin, who left a job in "
            "software to learn the family broth. They still make the noodles by hand "
            "each morning, pressing the dough with a bamboo pole as Mr Chan’s father did.",
            "The building’s owner, a family investment company, said the new rent "
            "reflected market rates on a street now lined with cocktail bars. A spokesman "
            "added that it was “open to a conversation” given the public interest.",
            "Heritage campaigners want the city to create a register of long-standing "
            "small businesses, with tax relief for landlords who keep them. The idea has "
            "been discussed before but never reached a vote.",
            "For now, the queue outside Chan Kee has never been longer. “People come to "
            "take photos,” said Kelvin Chan, “and then they stay to eat, which is the "
            "important part.”",
        ),
    ),
    Article(
        slug="frostline-raises-cold-chain",
        section="Business",
        headline="Cold-chain start-up Frostline raises $48m to expand across the region",
        standfirst=(
            "The Amaran firm, which tracks vaccines and seafood in transit, plans to "
            "open offices in three new markets before the end of the year."
        ),
        byline="Benedict Osei-Park",
        published=date(2026, 6, 2),
        paragraphs=(
            "Frostline, an Amaran start-up that monitors temperature-sensitive goods in "
            "transit, has raised $48m in a funding round led by the regional investment "
            "firm Bluewater Partners. The deal values the four-year-old company at "
            "about $310m.",
            "The company makes matchbox-sized sensors that travel inside containers and "
            "report their temperature over mobile networks. Its software warns shippers "
            "when a load of vaccines, flowers or frozen prawns is at risk of spoiling.",
            "Co-founder Noor Valdivia said the new money would fund offices in three "
            "neighbouring markets and a push into pharmaceutical logistics. Regulators in "
            "that industry increasingly demand an unbroken temperature record for every shipment.",
            "Frostline says its revenue tripled last year, though it remains loss-making. "
            "It counts two of the region’s five largest seafood exporters among its "
            "customers, along with several hospital groups.",
            "The round is one of the largest for an Amaran technology company this year, "
            "in a funding market that has been subdued since 2024. Investors said "
            "practical businesses with paying customers were finding it easier to raise "
            "money than more speculative ventures.",
        ),
    ),
    Article(
        slug="retirement-review-questions",
        section="Partner content",
        headline="Five questions to ask before your first retirement review",
        standfirst=(
            "Planning for later life is easier when you know what to ask. A short guide "
            "from the financial planning team at Calder Meridian Bank."
        ),
        byline="Calder Meridian Bank",
        published=date(2026, 4, 22),
        access="sponsored",
        paragraphs=(
            "Most people in Amaran will sit down for a formal retirement review only a "
            "handful of times in their working lives. Arriving with the right questions "
            "can make the difference between a box-ticking exercise and a plan you "
            "actually understand.",
            "First, ask how much you will need rather than how much you have. A useful "
            "starting point is to list your likely monthly spending in retirement, "
            "including healthcare, and work backwards from there.",
            "Second, ask what happens if you live longer than expected. Many plans are "
            "built around average life expectancy, yet half of all retirees will outlive "
            "that average, some by a decade or more.",
            "Third, ask how your savings are invested and why. A good adviser should be "
            "able to explain, in plain language, how much risk you are taking and how "
            "that will change as you approach retirement.",
            "Fourth and fifth, ask about fees and about flexibility: what you are paying "
            "each year, and how easily you can change course if your circumstances do. "
            "Small differences in charges compound over decades.",
            "Calder Meridian Bank offers a free thirty-minute planning conversation to "
            "customers and non-customers alike. This article is general information and "
            "not personal financial advice.",
        ),
    ),
    Article(
        slug="who-pays-for-new-land",
        section="Premium",
        headline="Who pays for the land the city keeps making?",
        standfirst=(
            "Amaran has added a fifth of its area from the sea since 1960. A Ledger "
            "investigation traces the money behind the next, and largest, reclamation."
        ),
        byline="Isabel Kariuki-Strand",
        published=date(2026, 5, 28),
        access="premium",
        subheading=(3, "A balance sheet made of sand"),
        paragraphs=(
            "Stand at the end of the Eastern Reclamation promenade and almost everything "
            "you can see, from the tram depot to the chip plant under construction, was "
            "open water within living memory. Since 1960 Amaran has created roughly a "
            "fifth of its current land area by pouring sand and rock into the sea.",
            "The next project, known in planning documents as Reclamation Area 7, would "
            "be the largest yet: 1,100 hectares off the southern coast, enough for "
            "housing for 200,000 people. Officials estimate the cost of forming the land "
            "alone at $14bn, before a single road or pipe is laid.",
            "Supporters argue there is no realistic alternative in a city hemmed in by "
            "mountains and protected country parks. Critics counter that the true cost, "
            "including sea walls built for rising tides, has never been set out in one "
            "place. Over six months, the Ledger has tried to do exactly that.",
            "Reclamation has traditionally paid for itself. The government forms the "
            "land, sells long leases to developers, and the proceeds fund the next round "
            "of works. Land sales made up more than a quarter of public revenue in some "
            "years of the last property boom.",
            "That model depends on prices continuing to rise. Internal projections seen "
            "by the Ledger assume average land values on Area 7 some 30 per cent above "
            "today’s levels when the first plots are sold in the mid-2030s, an assumption "
            "that several economists we spoke to called optimistic.",
            "Meanwhile the bill for protecting existing reclaimed land is growing. "
            "Engineers at the drainage department estimate that raising and reinforcing "
            "sea walls along older reclamations will cost at least $6bn over twenty "
            "years, a sum that appears in no single budget line.",
            "None of this means Area 7 should not be built. It does mean residents are "
            "being asked to back the city’s largest-ever construction project on "
            "figures that few of them have seen. The Legislative Council is due to "
            "debate the first funding request in September.",
        ),
    ),
)

METERED: tuple[Article, ...] = tuple(a for a in ARTICLES if a.access == "metered")


def find(access: Access, slug: str) -> Article | None:
    """Return the article with ``slug`` served under ``access``, or ``None``."""
    for article in ARTICLES:
        if article.slug == slug and article.access == access:
            return article
    return None
