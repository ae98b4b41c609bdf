"""Every ORM model of the one Rose Ash database, one module per domain.

Importing this package registers all tables on :data:`Base.metadata`, which Alembic
compares against the migrations.
"""

from shared.models.activitypub import (
    ApActivity,
    ApAppInteraction,
    ApDelivery,
    ApDeliveryAttempt,
    ApFollower,
    ApHost,
    ApInboundActivity,
    ApRemoteActor,
)
from shared.models.audit import AuditLog
from shared.models.base import Base
from shared.models.blog import (
    BlogAuthor,
    BlogPost,
    BlogPostAuthor,
    BlogPostTag,
    BlogSlugRedirect,
    BlogTag,
    DashboardWidget,
    GhostState,
    NavItem,
)
from shared.models.cart import CartItem, Order, OrderLine, Payment, Refund
from shared.models.events import (
    Event,
    EventBooking,
    EventCalendar,
    EventEmbedOrigin,
    EventException,
    EventFeedToken,
    EventOccurrenceObject,
    EventTicket,
    EventTicketType,
)
from shared.models.identity import (
    AuthSession,
    OAuthAuthorizationCode,
    OAuthToken,
    OidcClient,
    OidcConsent,
    OidcLogoutNotice,
    User,
)
from shared.models.market import (
    Category,
    MarketPage,
    MarketPageItem,
    PriceChange,
    Product,
    ProductCategory,
    ProductImage,
    ScrapeRun,
    ScrapeSource,
    Supplier,
)
from shared.models.media import MediaErasure, MediaOwner
from shared.models.newsletters import (
    EmailSuppression,
    Newsletter,
    NewsletterDelivery,
    NewsletterIssue,
    NewsletterSubscription,
)
from shared.models.operations import BackupRun

# The market importer's bookkeeping (pages fetched, "run now" requests).
from shared.models.scrape import ScrapePage, ScrapeRequest
from shared.models.social import (
    SocialAccount,
    SocialBlock,
    SocialDomainBlock,
    SocialFavourite,
    SocialFollow,
    SocialMention,
    SocialNotification,
    SocialReport,
    SocialStatus,
)

__all__ = [
    "ApActivity",
    "ApAppInteraction",
    "ApDelivery",
    "ApDeliveryAttempt",
    "ApFollower",
    "ApHost",
    "ApInboundActivity",
    "ApRemoteActor",
    "AuditLog",
    "AuthSession",
    "BackupRun",
    "Base",
    "BlogAuthor",
    "BlogPost",
    "BlogPostAuthor",
    "BlogPostTag",
    "BlogSlugRedirect",
    "BlogTag",
    "CartItem",
    "Category",
    "DashboardWidget",
    "EmailSuppression",
    "Event",
    "EventBooking",
    "EventCalendar",
    "EventEmbedOrigin",
    "EventException",
    "EventFeedToken",
    "EventOccurrenceObject",
    "EventTicket",
    "EventTicketType",
    "GhostState",
    "MarketPage",
    "MarketPageItem",
    "MediaErasure",
    "MediaOwner",
    "NavItem",
    "Newsletter",
    "NewsletterDelivery",
    "NewsletterIssue",
    "NewsletterSubscription",
    "OAuthAuthorizationCode",
    "OAuthToken",
    "OidcClient",
    "OidcConsent",
    "OidcLogoutNotice",
    "Order",
    "OrderLine",
    "Payment",
    "PriceChange",
    "Product",
    "ProductCategory",
    "ProductImage",
    "Refund",
    "ScrapePage",
    "ScrapeRequest",
    "ScrapeRun",
    "ScrapeSource",
    "SocialAccount",
    "SocialBlock",
    "SocialDomainBlock",
    "SocialFavourite",
    "SocialFollow",
    "SocialMention",
    "SocialNotification",
    "SocialReport",
    "SocialStatus",
    "Supplier",
    "User",
]
