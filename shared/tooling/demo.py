"""Demo content for `rose-ash up --demo`: a small, real-looking cooperative.

Each domain adds a seeder to :data:`SEEDERS`; every seeder is idempotent (running the
demo twice changes nothing the second time).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.config import Settings
from shared.db import create_engine, create_session_factory
from shared.models import BlogAuthor, BlogPost, User

Seeder = Callable[[AsyncSession], Awaitable[None]]

DEMO_USERS = (
    ("admin@rose-ash.test", "admin", "Ash Admin", ["member", "editor", "admin"]),
    ("editor@rose-ash.test", "editor", "Rosa Editor", ["member", "editor"]),
    ("alice@rose-ash.test", "alice", "Alice Member", ["member"]),
)


async def seed_identity(session: AsyncSession) -> None:
    """Demo accounts, verified but without passwords: give one a password with
    ``rose-ash user set-password alice`` to sign in as it."""
    for email, username, name, roles in DEMO_USERS:
        exists = await session.scalar(select(User.id).where(func.lower(User.username) == username))
        if exists is None:
            session.add(
                User(
                    email=email,
                    username=username,
                    display_name=name,
                    roles=roles,
                    email_verified_at=datetime.now(UTC),
                )
            )


DEMO_AUTHORS = (
    # (slug, name, bio, username of the linked account or None)
    ("rosa", "Rosa Editor", "Edits the blog and runs the Saturday market.", "editor"),
    ("ash", "Ash Admin", "Keeps the lights on and the coffee hot.", "admin"),
    ("guest", "Guest writer", "Members and friends of the cooperative.", None),
)

DEMO_POSTS: tuple[dict[str, Any], ...] = (
    {
        "title": "Welcome to Rose Ash",
        "tags": ("News",),
        "authors": ("ash",),
        "featured": True,
        "excerpt": "A café, a food co-op and a community venue, run by the people who use it.",
        "html": "<p>Rose Ash is a <strong>cooperative</strong>: a café, a food co-op and a "
        "community venue, owned and run by its members.</p><h2>What you will find here</h2>"
        "<ul><li>News and stories from the cooperative</li><li>The market and its "
        "suppliers</li><li>Events, workshops and suppers</li></ul>",
        "days_ago": 20,
    },
    {
        "title": "Sourdough workshop every first Saturday",
        "tags": ("Events", "Bakery"),
        "authors": ("rosa",),
        "featured": True,
        "html": "<p>Learn to keep a starter alive and bake a proper <em>sourdough</em> loaf "
        "with our bakers. Flour, aprons and coffee provided.</p><blockquote><p>The best "
        "bread I have ever made. — a happy baker</p></blockquote>",
        "days_ago": 14,
    },
    {
        "title": "New in the market: local apple juice",
        "tags": ("Market",),
        "authors": ("rosa",),
        "html": "<p>Pressed ten miles away from three old orchard varieties. Find it on the "
        "market's shelves and at the café counter.</p>",
        "days_ago": 9,
    },
    {
        "title": "Volunteers wanted for the harvest supper",
        "tags": ("Events", "Community"),
        "authors": ("guest",),
        "html": "<p>We need hands in the kitchen and at the door for the harvest supper. "
        "Every volunteer eats for free.</p>",
        "days_ago": 5,
    },
    {
        "title": "Minutes of the members' meeting",
        "tags": ("Community",),
        "authors": ("ash",),
        "visibility": "members",
        "excerpt": "What the members decided about opening hours and the new oven.",
        "html": "<p>The meeting agreed to open the café on Sunday mornings and to buy a "
        "second-hand bread oven from the co-op's reserve fund.</p>",
        "days_ago": 2,
    },
    {
        "title": "Winter opening hours",
        "tags": ("News",),
        "authors": ("rosa",),
        "html": "<p>From December the café opens at 8:00 on weekdays and 9:00 at weekends.</p>",
        "days_ago": 1,
    },
)

DEMO_PAGES: tuple[dict[str, Any], ...] = (
    {
        "title": "About the cooperative",
        "slug": "about",
        "html": "<p>Rose Ash belongs to its members. Anyone can join: one member, one vote.</p>"
        "<h2>How it works</h2><p>Members elect a board every year and decide together what "
        "the café, the market and the venue do.</p>",
    },
    {
        "title": "Visit us",
        "slug": "visit",
        "html": "<p>We are open every day. Step-free access, a quiet room, and bike racks by "
        "the door.</p>",
    },
)


async def seed_blog(session: AsyncSession) -> None:
    """Authors, tags, six posts (one for members only) and two pages, once."""
    from shared.contracts import PostInput
    from shared.infrastructure.context import services
    from shared.infrastructure.sanitize import slugify

    blog = services().blog

    users: dict[str, int] = dict((await session.execute(select(User.username, User.id))).all())
    for slug, name, bio, username in DEMO_AUTHORS:
        exists = await session.scalar(select(BlogAuthor.id).where(BlogAuthor.slug == slug))
        if exists is None:
            user_id = users.get(username) if username else None
            session.add(BlogAuthor(slug=slug, name=name, bio=bio, user_id=user_id))
    await session.flush()
    now = datetime.now(UTC).replace(microsecond=0)
    items = [({"kind": "post", **spec}, spec["days_ago"]) for spec in DEMO_POSTS] + [
        ({"kind": "page", **spec}, 30) for spec in DEMO_PAGES
    ]
    for spec, days_ago in items:
        slug = spec.get("slug") or slugify(spec["title"])
        if await session.scalar(select(BlogPost.id).where(BlogPost.slug == slug)) is not None:
            continue
        fields = {k: v for k, v in spec.items() if k != "days_ago"}
        post = await blog.create_post(session, PostInput(**fields))
        await blog.publish(session, post.id, now=now - timedelta(days=days_ago, hours=3))


# --- the market -------------------------------------------------------------------------

DEMO_SUPPLIERS = (
    (
        "hill-farm",
        "Hill Farm",
        "https://hillfarm.example/",
        "<p>A mixed family farm two valleys over: eggs, vegetables and apples, picked the "
        "day before the market.</p>",
    ),
    (
        "old-mill-bakery",
        "Old Mill Bakery",
        "https://oldmill.example/",
        "<p>Slow-fermented bread and cakes, baked overnight with flour from the mill next "
        "door.</p>",
    ),
    (
        "meadow-dairy",
        "Meadow Dairy",
        None,
        "<p>Cheese and butter from a herd of thirty Jerseys.</p>",
    ),
    (
        "rose-ash-pantry",
        "Rose Ash Pantry",
        None,
        "<p>The co-op's own shelf: preserves, honey, coffee and household basics, bought in "
        "bulk and shared out.</p>",
    ),
)
# slug, name, parent slug, position
DEMO_CATEGORIES = (
    ("food", "Food", None, 0),
    ("bakery", "Bakery", "food", 0),
    ("cakes", "Cakes", "bakery", 0),
    ("dairy-eggs", "Dairy & eggs", "food", 1),
    ("fruit-veg", "Fruit & veg", "food", 2),
    ("pantry", "Pantry", "food", 3),
    ("preserves", "Preserves & honey", "pantry", 0),
    ("drinks", "Drinks", None, 1),
    ("household", "Household", None, 2),
)
# title, price (minor units), unit, stock (None: unlimited), supplier, categories, image,
# summary, featured
DEMO_PRODUCTS = (
    (
        "Sourdough loaf",
        450,
        "800 g",
        12,
        "old-mill-bakery",
        ("bakery",),
        "loaf",
        "A slow rye sourdough with a dark, crackling crust.",
        True,
    ),
    (
        "Seeded rye",
        420,
        "750 g",
        8,
        "old-mill-bakery",
        ("bakery",),
        "loaf",
        "Dense rye packed with sunflower and pumpkin seeds.",
        False,
    ),
    (
        "White bloomer",
        320,
        "each",
        15,
        "old-mill-bakery",
        ("bakery",),
        "loaf",
        "The everyday loaf, baked every morning.",
        False,
    ),
    (
        "Spelt tin loaf",
        480,
        "each",
        6,
        "old-mill-bakery",
        ("bakery",),
        "loaf",
        "Wholegrain spelt, soft crumb, good for toast.",
        False,
    ),
    (
        "Cinnamon buns",
        650,
        "box of 4",
        10,
        "old-mill-bakery",
        ("bakery",),
        "cake",
        "Cardamom dough, cinnamon butter, a sugar glaze.",
        True,
    ),
    (
        "Carrot cake",
        1800,
        "whole cake",
        2,
        "old-mill-bakery",
        ("cakes",),
        "cake",
        "Walnuts, orange zest and cream-cheese icing.",
        False,
    ),
    (
        "Lemon drizzle",
        1500,
        "whole cake",
        0,
        "old-mill-bakery",
        ("cakes",),
        "cake",
        "Sharp lemon syrup soaked into a light sponge.",
        False,
    ),
    (
        "Chocolate brownies",
        900,
        "box of 6",
        9,
        "old-mill-bakery",
        ("cakes",),
        "cake",
        "Fudgy, with dark chocolate from a co-op in Peru.",
        False,
    ),
    (
        "Stoneground flour",
        280,
        "1.5 kg",
        None,
        "old-mill-bakery",
        ("pantry",),
        "bag",
        "Wholemeal bread flour from the mill next door.",
        False,
    ),
    (
        "Free-range eggs",
        330,
        "6",
        40,
        "hill-farm",
        ("dairy-eggs",),
        "eggs",
        "Laid by hens who roam the orchard.",
        True,
    ),
    (
        "Duck eggs",
        420,
        "6",
        5,
        "hill-farm",
        ("dairy-eggs",),
        "eggs",
        "Rich yolks, wonderful for baking.",
        False,
    ),
    (
        "Farmhouse cheddar",
        550,
        "250 g",
        20,
        "meadow-dairy",
        ("dairy-eggs",),
        "cheese",
        "Clothbound and aged for twelve months.",
        True,
    ),
    (
        "Soft blue",
        620,
        "200 g",
        7,
        "meadow-dairy",
        ("dairy-eggs",),
        "cheese",
        "Creamy, gently blue, best at room temperature.",
        False,
    ),
    (
        "Salted butter",
        380,
        "250 g",
        25,
        "meadow-dairy",
        ("dairy-eggs",),
        "cheese",
        "Hand-rolled cultured butter with sea salt.",
        False,
    ),
    (
        "Whole milk",
        150,
        "1 litre",
        None,
        "meadow-dairy",
        ("dairy-eggs",),
        "bottle",
        "Unhomogenised, in a returnable glass bottle.",
        False,
    ),
    (
        "Natural yoghurt",
        290,
        "500 g",
        12,
        "meadow-dairy",
        ("dairy-eggs",),
        "jar",
        "Thick, tangy and live.",
        False,
    ),
    (
        "Seasonal veg box",
        1500,
        "box",
        None,
        "hill-farm",
        ("fruit-veg",),
        "veg",
        "Whatever is best this week: enough for a family of four.",
        True,
    ),
    (
        "Carrots",
        180,
        "kg",
        None,
        "hill-farm",
        ("fruit-veg",),
        "veg",
        "Unwashed, sweet, with the tops on.",
        False,
    ),
    (
        "Potatoes",
        150,
        "kg",
        None,
        "hill-farm",
        ("fruit-veg",),
        "veg",
        "Floury maincrop, good for mash and roasting.",
        False,
    ),
    ("Red onions", 200, "kg", None, "hill-farm", ("fruit-veg",), "veg", "Mild and sweet.", False),
    (
        "Kale",
        190,
        "bunch",
        18,
        "hill-farm",
        ("fruit-veg",),
        "veg",
        "Cavolo nero, picked the day before.",
        False,
    ),
    (
        "Cox apples",
        260,
        "kg",
        30,
        "hill-farm",
        ("fruit-veg",),
        "apple",
        "Crisp and aromatic, from the orchard.",
        False,
    ),
    (
        "Bramley apples",
        240,
        "kg",
        20,
        "hill-farm",
        ("fruit-veg",),
        "apple",
        "The cooking apple: they fall into a fluffy purée.",
        False,
    ),
    (
        "Pears",
        280,
        "kg",
        0,
        "hill-farm",
        ("fruit-veg",),
        "apple",
        "Conference pears, back in the autumn.",
        False,
    ),
    (
        "Wildflower honey",
        750,
        "340 g",
        14,
        "rose-ash-pantry",
        ("preserves",),
        "jar",
        "From hives on the allotments behind the café.",
        True,
    ),
    (
        "Strawberry jam",
        420,
        "340 g",
        22,
        "rose-ash-pantry",
        ("preserves",),
        "jar",
        "Made in the café kitchen in June.",
        False,
    ),
    (
        "Seville marmalade",
        420,
        "340 g",
        16,
        "rose-ash-pantry",
        ("preserves",),
        "jar",
        "Thick cut and bitter, as it should be.",
        False,
    ),
    (
        "Apple chutney",
        390,
        "300 g",
        11,
        "rose-ash-pantry",
        ("preserves",),
        "jar",
        "Bramleys, sultanas and a little chilli.",
        False,
    ),
    (
        "Porridge oats",
        260,
        "1 kg",
        None,
        "rose-ash-pantry",
        ("pantry",),
        "bag",
        "Jumbo oats, grown and rolled in Scotland.",
        False,
    ),
    (
        "Red lentils",
        320,
        "1 kg",
        None,
        "rose-ash-pantry",
        ("pantry",),
        "bag",
        "For soups and dal; refill your own jar at the café.",
        False,
    ),
    (
        "Olive oil",
        1100,
        "750 ml",
        10,
        "rose-ash-pantry",
        ("pantry",),
        "bottle",
        "Cold-pressed, from a Palestinian farmers' co-op.",
        False,
    ),
    (
        "Espresso beans",
        850,
        "250 g",
        24,
        "rose-ash-pantry",
        ("drinks",),
        "coffee",
        "Roasted in town; chocolate and cherry.",
        True,
    ),
    (
        "Filter coffee",
        800,
        "250 g",
        18,
        "rose-ash-pantry",
        ("drinks",),
        "coffee",
        "Lighter roast, ground for filter on request.",
        False,
    ),
    (
        "Breakfast tea",
        450,
        "80 bags",
        None,
        "rose-ash-pantry",
        ("drinks",),
        "coffee",
        "A strong Assam blend, fairly traded.",
        False,
    ),
    (
        "Apple juice",
        350,
        "75 cl",
        30,
        "hill-farm",
        ("drinks",),
        "bottle",
        "Pressed from the farm's own Cox and Bramley.",
        False,
    ),
    (
        "Elderflower cordial",
        480,
        "50 cl",
        9,
        "rose-ash-pantry",
        ("drinks",),
        "bottle",
        "Picked in the lanes in May.",
        False,
    ),
    (
        "Oat soap",
        400,
        "bar",
        20,
        "rose-ash-pantry",
        ("household",),
        "soap",
        "Unscented, gentle, made by a member.",
        False,
    ),
    (
        "Washing-up liquid refill",
        220,
        "500 ml",
        None,
        "rose-ash-pantry",
        ("household",),
        "soap",
        "Bring your bottle; plant-based.",
        False,
    ),
    (
        "Beeswax wraps",
        900,
        "set of 3",
        6,
        "rose-ash-pantry",
        ("household",),
        "leaf",
        "Instead of cling film; from our own beeswax.",
        False,
    ),
    (
        "Tote bag",
        600,
        "each",
        35,
        "rose-ash-pantry",
        ("household",),
        "leaf",
        "Printed with the Rose Ash leaf.",
        False,
    ),
)
DEMO_MARKET_PAGE = (
    "sunday-breakfast",
    "Sunday breakfast",
    "<p>Everything for a slow Sunday breakfast, from the oven, the farm and the pantry.</p>",
    (
        ("product", "sourdough-loaf"),
        ("product", "free-range-eggs"),
        ("product", "salted-butter"),
        ("product", "strawberry-jam"),
        ("category", "bakery"),
        ("product", "espresso-beans"),
    ),
)
DEMO_MARKET_POST = (
    "from-the-market-this-week",
    "From the market this week",
    "<p>The first Cox apples are in, and the bakery has started on its winter loaves. "
    "Our pick of the week:</p>"
    '<div data-product="sourdough-loaf"></div>'
    "<p>It goes with everything, but especially with this:</p>"
    '<div data-product="wildflower-honey"></div>',
)


async def seed_market(session: AsyncSession) -> None:
    """Suppliers, a category tree, forty products with prices, stock and images, a market
    page and a blog post embedding two product cards, once."""
    from shared.contracts import (
        CategoryInput,
        MarketPageInput,
        PostInput,
        ProductImageDTO,
        ProductInput,
        SupplierInput,
    )
    from shared.infrastructure.context import services
    from shared.models import Category, MarketPage, Product, Supplier

    catalog = services().catalog
    for slug, name, website, description in DEMO_SUPPLIERS:
        if await session.scalar(select(Supplier.id).where(Supplier.slug == slug)) is None:
            await catalog.create_supplier(
                session,
                SupplierInput(
                    name=name,
                    slug=slug,
                    website=website,
                    description=description,
                    logo_url="/static/img/market/leaf.svg",
                ),
            )
    for slug, name, parent, position in DEMO_CATEGORIES:
        if await session.scalar(select(Category.id).where(Category.slug == slug)) is None:
            parent_id = await session.scalar(select(Category.id).where(Category.slug == parent))
            await catalog.create_category(
                session,
                CategoryInput(name=name, slug=slug, parent_id=parent_id, position=position),
            )
    from shared.infrastructure.sanitize import slugify

    for title, price, unit, stock, supplier, categories, image, summary, featured in DEMO_PRODUCTS:
        slug = slugify(title)
        if await session.scalar(select(Product.id).where(Product.slug == slug)) is not None:
            continue
        await catalog.create_product(
            session,
            ProductInput(
                title=title,
                slug=slug,
                price_minor=price,
                unit=unit,
                stock=stock,
                supplier=supplier,
                categories=categories,
                summary=summary,
                description=f"<p>{summary}</p><p>Collect it at the café, or have it delivered "
                "with the Thursday round.</p>",
                featured=featured,
                images=(ProductImageDTO(f"/static/img/market/{image}.svg", title),),
            ),
        )
    slug, title, intro, items = DEMO_MARKET_PAGE
    if await session.scalar(select(MarketPage.id).where(MarketPage.slug == slug)) is None:
        await catalog.create_market_page(
            session,
            MarketPageInput(title=title, slug=slug, intro=intro, published=True, items=items),
        )
    slug, title, body = DEMO_MARKET_POST
    if await session.scalar(select(BlogPost.id).where(BlogPost.slug == slug)) is None:
        blog = services().blog
        post = await blog.create_post(
            session, PostInput(title=title, slug=slug, html=body, tags=("Market",))
        )
        await blog.publish(session, post.id, now=datetime.now(UTC) - timedelta(hours=2))


async def seed_scrape_source(session: AsyncSession) -> None:
    """The demo supplier whose website `rose-ash up --demo` serves on loopback, with a scrape
    source pointing at it: `rose-ash scrape orchard-lane` imports its shop (a second run
    reports every product unchanged). Scheduled runs are off, so the import is yours to run
    (or press "Run now" at /editor/scrape on the market)."""
    from shared.config import ConfigError, load_settings
    from shared.models import ScrapeSource, Supplier
    from shared.services.market.scrape.demo_site import SUPPLIER_NAME, SUPPLIER_SLUG

    try:
        port = load_settings().scrape.demo_site_port
    except ConfigError:
        port = 8010
    site = f"http://127.0.0.1:{port}"
    supplier_id = await session.scalar(select(Supplier.id).where(Supplier.slug == SUPPLIER_SLUG))
    if supplier_id is None:
        supplier = Supplier(
            slug=SUPPLIER_SLUG,
            name=SUPPLIER_NAME,
            website=site,
            description="<p>Juice, cider vinegar, honey and eggs from a family orchard.</p>",
        )
        session.add(supplier)
        await session.flush()
        supplier_id = supplier.id
    has_source = await session.scalar(
        select(ScrapeSource.id).where(ScrapeSource.supplier_id == supplier_id)
    )
    if has_source is None:
        session.add(
            ScrapeSource(
                supplier_id=supplier_id,
                start_url=f"{site}/",
                kind="page",
                enabled=False,
                interval_hours=24,
                settings={"currency": "GBP"},
            )
        )


DEMO_CART_PRODUCTS = (
    # Only when the catalogue is empty (the market's seeder normally provides the products):
    # (slug, title, price in pence, stock)
    ("demo-sourdough-loaf", "Sourdough loaf", 450, 24),
    ("demo-oat-milk", "Oat milk, 1 litre", 210, 40),
    ("demo-damson-jam", "Damson jam", 380, 12),
)


async def seed_cart(session: AsyncSession) -> None:
    """Something to buy (when the catalogue is empty) and Alice's past order, paid and
    collected: it shows in her orders and in staff's order admin. Payments in the demo go to
    the SumUp stand-in `rose-ash up` serves (TEST PAYMENTS)."""
    from shared.models import Order, OrderLine, Product

    if await session.scalar(select(func.count()).select_from(Product)) == 0:
        for slug, title, price, stock in DEMO_CART_PRODUCTS:
            session.add(Product(slug=slug, title=title, price_minor=price, stock=stock))
        await session.flush()
    alice = await session.scalar(select(User.id).where(User.username == "alice"))
    if alice is None or await session.scalar(select(Order.id).where(Order.user_id == alice)):
        return
    products = (
        await session.scalars(select(Product).where(Product.available.is_(True)).limit(2))
    ).all()
    if not products:
        return
    lines = [(p, 2 if i == 0 else 1) for i, p in enumerate(products)]
    placed = datetime.now(UTC).replace(microsecond=0) - timedelta(days=6)
    order = Order(
        user_id=alice,
        status="fulfilled",
        currency=products[0].currency,
        total_minor=sum(p.price_minor * q for p, q in lines),
        email="alice@rose-ash.test",
        name="Alice Member",
        fulfilment="collection",
        notes="Saturday morning, please.",
        paid_at=placed + timedelta(minutes=3),
        created_at=placed,
    )
    session.add(order)
    await session.flush()
    for product, quantity in lines:
        session.add(
            OrderLine(
                order_id=order.id,
                kind="product",
                item_id=product.id,
                title=product.title,
                unit_price_minor=product.price_minor,
                quantity=quantity,
                fulfilled_at=placed + timedelta(minutes=3),
            )
        )


SEEDERS: list[Seeder] = [seed_identity, seed_blog, seed_market]
# The market's demo supplier site and its scrape source.
SEEDERS.append(seed_scrape_source)


async def seed_events(session: AsyncSession) -> None:
    """Two calendars, recurring and single events (one moved date, one cancelled), a paid
    concert with ticket types, once."""
    from zoneinfo import ZoneInfo

    from shared.contracts import CalendarInput, EventInput, OccurrenceException, TicketTypeInput
    from shared.infrastructure.context import services
    from shared.models import Event

    events = services().events
    if await session.scalar(select(Event.id).limit(1)) is not None:
        return
    venue = await events.save_calendar(
        session,
        CalendarInput(
            name="The Venue",
            timezone="Europe/London",
            colour="#7a3b69",
            description="Gigs, talks and socials in the back room.",
        ),
    )
    workshops = await events.save_calendar(
        session,
        CalendarInput(
            name="Workshops",
            timezone="Europe/London",
            colour="#2f6f4f",
            description="Learn to mend, cook and grow.",
        ),
    )
    today = datetime.now(ZoneInfo("Europe/London")).replace(tzinfo=None)
    first = today.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(
        days=today.weekday()
    )

    def at(days: int, hour: int, minute: int = 0) -> datetime:
        return first + timedelta(days=days, hours=hour, minutes=minute)

    repair = await events.save_event(
        session,
        EventInput(
            calendar_id=workshops.id,
            title="Repair Café",
            timezone="Europe/London",
            start_local=at(5, 10),
            end_local=at(5, 13),
            rrule="FREQ=WEEKLY;BYDAY=SA",
            description_html="<p>Bring your broken toasters, lamps and jumpers: volunteers "
            "help you fix them.</p>",
            location_name="The Workshop",
            location_address="12 Rose Lane",
            organiser="Repair volunteers",
            capacity=20,
            per_person_limit=2,
            status="published",
            tags=("repair", "community"),
        ),
    )
    await events.save_event(
        session,
        EventInput(
            calendar_id=venue.id,
            title="Folk session",
            timezone="Europe/London",
            start_local=at(1, 19, 30),
            end_local=at(1, 22),
            rrule="FREQ=MONTHLY;BYDAY=2TU",
            description_html="<p>An open session: bring an instrument or just listen.</p>",
            location_name="The Back Room",
            capacity=40,
            status="published",
            tags=("music", "folk"),
        ),
    )
    soup = await events.save_event(
        session,
        EventInput(
            calendar_id=venue.id,
            title="Soup & stories",
            timezone="Europe/London",
            start_local=at(3, 18),
            end_local=at(3, 20),
            rrule="FREQ=WEEKLY;COUNT=10",
            description_html="<p>Free soup, and a story from a member.</p>",
            location_name="The Café",
            capacity=12,
            status="published",
            tags=("food", "community"),
        ),
    )
    concert = await events.save_event(
        session,
        EventInput(
            calendar_id=venue.id,
            title="Winter concert",
            timezone="Europe/London",
            start_local=at(17, 19),
            end_local=at(17, 22),
            description_html="<p>The cooperative's choir and guests. Tickets through the cart.</p>",
            location_name="The Back Room",
            capacity=60,
            status="published",
            tags=("music",),
        ),
    )
    await events.add_ticket_type(
        session, concert.id, TicketTypeInput("Standard", concert.start, 1200, capacity=45)
    )
    await events.add_ticket_type(
        session, concert.id, TicketTypeInput("Concession", concert.start, 600, capacity=15)
    )
    # The Repair Café skips a week and Soup & stories moves one evening.
    await events.set_exception(
        session, repair.id, OccurrenceException(repair.start + timedelta(days=14), True)
    )
    moved = soup.start + timedelta(days=7)
    await events.set_exception(
        session,
        soup.id,
        OccurrenceException(
            moved, False, moved + timedelta(days=1), moved + timedelta(days=1, hours=2)
        ),
    )


async def seed_social(session: AsyncSession) -> None:
    """The social hub: Alice and Rosa on the fediverse, following each other, a few posts
    (one for followers only), a reply and a like, once."""
    from shared.contracts import ComposeInput
    from shared.infrastructure.context import services
    from shared.models import SocialStatus

    social = services().social
    users: dict[str, int] = dict((await session.execute(select(User.username, User.id))).all())
    if "alice" not in users or "editor" not in users:
        return
    alice = await social.account_for_member(session, users["alice"])
    if await session.scalar(select(SocialStatus.id).where(SocialStatus.account_id == alice.id)):
        return
    rosa = await social.account_for_member(session, users["editor"])
    await social.follow(session, users["editor"], alice.id)
    await social.follow(session, users["alice"], rosa.id)
    await social.compose(
        session,
        users["alice"],
        ComposeInput(text="The first rhubarb of the year is in the market today. #rhubarb"),
    )
    question = await social.compose(
        session,
        users["alice"],
        ComposeInput(text="Who is coming to the seed swap on Saturday? #seedswap"),
    )
    await social.compose(
        session,
        users["editor"],
        ComposeInput(text="@alice I'll bring the squash seeds!", in_reply_to_id=question.id),
    )
    await social.favourite(session, users["editor"], question.id)
    await social.compose(
        session,
        users["editor"],
        ComposeInput(
            text="Followers only: the volunteers' rota for next week is on the noticeboard.",
            visibility="private",
        ),
    )


SEEDERS.append(seed_events)  # events come after identity (bookings need members)
SEEDERS.append(seed_cart)  # after the market: it adds products only to an empty catalogue
DEMO_NEWSLETTERS = (
    ("Weekly market", "What is fresh at the market this week, and who grew it."),
    ("Events", "Workshops, suppers and work days coming up at the cooperative."),
)


async def seed_account(session: AsyncSession) -> None:
    """Two newsletters with confirmed subscribers (members and one address without an
    account) and a draft issue of the weekly one built from the latest posts, ready for
    staff to preview, test and send from ``/editor/newsletters/`` on the account app."""
    from shared.config import load_settings
    from shared.contracts import IssueInput
    from shared.infrastructure.context import services
    from shared.models import Newsletter
    from shared.services.newsletters.sender import digest_html

    if await session.scalar(select(func.count()).select_from(Newsletter)):
        return
    account = services().newsletters
    users = {
        u.username: u
        for u in (await session.scalars(select(User))).all()
        if u.username in {"admin", "editor", "alice"}
    }
    staff_id = users["editor"].id
    created = [
        await account.create_newsletter(session, name, about, actor_id=staff_id)
        for name, about in DEMO_NEWSLETTERS
    ]
    weekly, events = created
    for username in ("alice", "editor"):
        user = users[username]
        for newsletter in created:
            await account.subscribe(
                session, newsletter.id, user.email, user_id=user.id, confirmed=True
            )
    await account.subscribe(session, weekly.id, "neighbour@rose-ash.test", confirmed=True)
    await account.subscribe(session, events.id, "neighbour@rose-ash.test", confirmed=True)
    posts = await services().blog.feed(session, limit=4)
    if posts:
        blog_url = load_settings().apps["blog"].public_url
        await account.create_issue(
            session,
            weekly.id,
            IssueInput(
                subject=f"Weekly market: {posts[0].title}",
                html=digest_html(posts, (), blog_url=blog_url, intro="Hello from the cooperative!"),
            ),
            actor_id=staff_id,
        )


SEEDERS.append(seed_account)
SEEDERS.append(seed_social)


async def _seed(settings: Settings) -> None:
    from shared.infrastructure.context import use_services
    from shared.services.registry import build_services

    # Seeders reach the domains through services(): configured by these settings (the
    # launcher's, with its dev secrets), not the bare process environment.
    use_services(build_services(settings))
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            for seeder in SEEDERS:
                await seeder(session)
    finally:
        await engine.dispose()


def seed_demo(settings: Settings) -> None:
    asyncio.run(_seed(settings))


# --- the benchmark's scale (`rose-ash demo --scale`, used by `python -m bench`) -----------

SCALE_POSTS = 1_000
SCALE_PRODUCTS = 2_000
SCALE_EVENTS = 200
# Every row the scale seeder adds has a slug starting with this, so a second run finds them.
SCALE_PREFIX = "scale-"
_SCALE_CHUNK = 500  # rows per INSERT: well under asyncpg's 32,767 parameters per statement
_SCALE_WORDS = (
    "harvest",
    "orchard",
    "sourdough",
    "market",
    "allotment",
    "supper",
    "repair",
    "choir",
    "seed",
    "honey",
)
_SCALE_IMAGES = ("apple", "bag", "bottle", "cake", "cheese", "coffee", "eggs", "jar", "loaf", "veg")


async def _insert_new(
    session: AsyncSession, model: Any, rows: list[dict[str, Any]]
) -> dict[str, int]:
    """Insert ``rows`` in chunks, skipping slugs already there; returns slug -> id of new rows."""
    from sqlalchemy.dialects.postgresql import insert

    new: dict[str, int] = {}
    for start in range(0, len(rows), _SCALE_CHUNK):
        stmt = (
            insert(model)
            .values(rows[start : start + _SCALE_CHUNK])
            .on_conflict_do_nothing(index_elements=["slug"])
            .returning(model.slug, model.id)
        )
        new.update((slug, id_) for slug, id_ in (await session.execute(stmt)).all())
    return new


async def _insert_links(session: AsyncSession, model: Any, rows: list[dict[str, Any]]) -> None:
    from sqlalchemy import insert

    for start in range(0, len(rows), _SCALE_CHUNK):
        await session.execute(insert(model).values(rows[start : start + _SCALE_CHUNK]))


async def seed_scale(
    session: AsyncSession,
    *,
    posts: int = SCALE_POSTS,
    products: int = SCALE_PRODUCTS,
    events: int = SCALE_EVENTS,
) -> dict[str, int]:
    """The demo scaled up for the benchmark: ``posts`` published posts (with the demo's authors
    and tags), ``products`` products in the demo's categories and suppliers, ``events`` upcoming
    events in a calendar of their own. Rows are written with a few multi-row INSERTs (seconds,
    not one service call each: nothing is federated or audited for them); a second run adds only
    what is missing. Returns how many rows of each kind were added."""
    from shared.models import (
        BlogPostAuthor,
        BlogPostTag,
        BlogTag,
        Category,
        Event,
        EventCalendar,
        Product,
        ProductCategory,
        ProductImage,
        Supplier,
    )

    now = datetime.now(UTC).replace(microsecond=0)
    words = _SCALE_WORDS
    authors = list((await session.scalars(select(BlogAuthor.id).order_by(BlogAuthor.id))).all())
    tags = list((await session.scalars(select(BlogTag.id).order_by(BlogTag.id))).all())
    post_rows = []
    for n in range(1, posts + 1):
        a, b = words[n % len(words)], words[(n * 7 + 3) % len(words)]
        title = f"Notes from the {a} and the {b}, number {n}"
        text = (
            f"The {a} group met again this week to plan the {b}. Everyone is welcome; "
            "bring a friend and something to share."
        )
        post_rows.append(
            {
                "kind": "post",
                "title": title,
                "slug": f"{SCALE_PREFIX}post-{n:05d}",
                "html": f"<p>{text}</p><p>Details are on the noticeboard by the café door.</p>",
                "plaintext": f"{text} Details are on the noticeboard by the café door.",
                "excerpt": text,
                "status": "published",
                # Older than the demo's own posts, so the home page still opens with those.
                "published_at": now - timedelta(days=21, hours=n * 7),
                "visibility": "public",
            }
        )
    new_posts = await _insert_new(session, BlogPost, post_rows)
    if authors:
        await _insert_links(
            session,
            BlogPostAuthor,
            [
                {"post_id": pid, "author_id": authors[pid % len(authors)], "sort_order": 0}
                for pid in new_posts.values()
            ],
        )
    if tags:
        await _insert_links(
            session,
            BlogPostTag,
            [
                {"post_id": pid, "tag_id": tags[pid % len(tags)], "sort_order": 0}
                for pid in new_posts.values()
            ],
        )

    suppliers = list((await session.scalars(select(Supplier.id).order_by(Supplier.id))).all())
    parents = select(Category.parent_id).where(Category.parent_id.is_not(None))
    leaves = list(
        (
            await session.scalars(
                select(Category.id).where(Category.id.not_in(parents)).order_by(Category.id)
            )
        ).all()
    )
    product_rows = []
    for n in range(1, products + 1):
        a, b = words[n % len(words)], words[(n * 3 + 1) % len(words)]
        summary = f"A {a} favourite from the {b} shelf."
        product_rows.append(
            {
                "slug": f"{SCALE_PREFIX}product-{n:05d}",
                "title": f"{a.capitalize()} {b} no. {n}",
                "summary": summary,
                "description": f"<p>{summary}</p>",
                "plaintext": summary,
                "supplier_id": suppliers[n % len(suppliers)] if suppliers else None,
                "price_minor": 100 + (n * 37) % 2400,
                "unit": "each",
                # Some sold out, some unlimited, the rest a few in stock.
                "stock": 0 if n % 7 == 0 else None if n % 5 == 0 else 1 + n % 30,
                "created_at": now - timedelta(minutes=n),
            }
        )
    new_products = await _insert_new(session, Product, product_rows)
    await _insert_links(
        session,
        ProductImage,
        [
            {
                "product_id": pid,
                "url": f"/static/img/market/{_SCALE_IMAGES[pid % len(_SCALE_IMAGES)]}.svg",
                "alt": "",
                "position": 0,
            }
            for pid in new_products.values()
        ],
    )
    if leaves:
        await _insert_links(
            session,
            ProductCategory,
            [
                {"product_id": pid, "category_id": leaves[pid % len(leaves)]}
                for pid in new_products.values()
            ],
        )

    calendar_slug = f"{SCALE_PREFIX}programme"
    calendar_id = await session.scalar(
        select(EventCalendar.id).where(EventCalendar.slug == calendar_slug)
    )
    if calendar_id is None:
        calendar = EventCalendar(
            slug=calendar_slug,
            name="Community programme",
            timezone="Europe/London",
            description="Talks, classes and socials run by members.",
        )
        session.add(calendar)
        await session.flush()
        calendar_id = calendar.id
    first = now.replace(hour=18, minute=0, second=0) + timedelta(days=1)
    event_rows = []
    for n in range(1, events + 1):
        start = first + timedelta(days=n // 2, hours=(n % 2) * 2)
        a = words[n % len(words)]
        event_rows.append(
            {
                "calendar_id": calendar_id,
                "slug": f"{SCALE_PREFIX}event-{n:04d}",
                "uid": f"{SCALE_PREFIX}event-{n:04d}@rose-ash",
                "title": f"{a.capitalize()} evening {n}",
                "description_html": f"<p>An evening about the {a}, with tea.</p>",
                "timezone": "Europe/London",
                "start_at": start,
                "end_at": start + timedelta(hours=2),
                "recur_until": start,  # a one-off event: its only occurrence
                "location_name": "The Back Room",
                "capacity": 30,
                "status": "published",
                "tags": [a],
            }
        )
    new_events = await _insert_new(session, Event, event_rows)
    return {"posts": len(new_posts), "products": len(new_products), "events": len(new_events)}


async def _seed_at_scale(settings: Settings) -> dict[str, int]:
    await _seed(settings)
    engine = create_engine(settings)
    try:
        async with create_session_factory(engine)() as session, session.begin():
            return await seed_scale(session)
    finally:
        await engine.dispose()


def seed_demo_at_scale(settings: Settings) -> dict[str, int]:
    """The demo, then :func:`seed_scale` on top of it; returns what the scale step added."""
    return asyncio.run(_seed_at_scale(settings))
