"""How consent was collected (a consent's `method`), as a person names it on the command line.

Klaviyo sets the method itself and publishes no enum; its vocabulary is the upper-snake-case form
of its segment filters' methods (API, FORM, PREFERENCE_PAGE, TEXT, MANUAL_IMPORT...). The decision
rules read some methods closely: CASL's implied consents expire and the soft opt-in is allowed
where explicit consent is otherwise needed (pack_rules). So a method is one of a known vocabulary,
whatever its case: `casl_implied_purchase` stored as typed would read as explicit consent that
never expires, and a typo such as SOFT_OPTIN as another method altogether."""

from __future__ import annotations

from .errors import DomainError
from .implied import IMPLIED_METHODS, SOFT_OPT_IN

# Klaviyo's subscribe and unsubscribe methods (its segment filters' vocabulary, upper case), then
# the ones the decision rules read.
METHODS: frozenset[str] = frozenset(
    {
        "API", "BACK_IN_STOCK", "BIGCOMMERCE", "BULK_REMOVE", "CAMPAIGN_MONITOR", "CARRIER_DEACTIVATION",
        "CHECKOUT", "CONSTANT_CONTACT", "DATA_WAREHOUSE_IMPORT", "EXACT_TARGET", "FACEBOOK", "FAILED_AGE_GATE",
        "FORM", "INBOUND_MESSAGE", "INTEGRATION", "MAD_MIMI", "MAGENTO_TWO", "MAILBOX_PROVIDER", "MANUAL_ADD",
        "MANUAL_IMPORT", "MANUAL_REMOVE", "MESSAGE_BLOCKED", "NETSUITE", "ONE_CLICK_UNSUBSCRIBE",
        "PREFERENCE_PAGE", "PROFILE_MODIFICATION", "PROVIDED_LANDLINE", "PROVIDED_NO_AGE", "SFTP", "SHOPIFY",
        "SOCIAL_INSTAGRAM_MESSAGE", "SPAM_COMPLAINT", "SQUARE", "TEXT", "WIX", "WOOCOMMERCE",
        *IMPLIED_METHODS, SOFT_OPT_IN,
    }
)  # fmt: skip


def parse_method(value: str, field: str = "method") -> str:
    """The method in its stored (upper-snake-case) form, or a DomainError naming `field`."""
    method = value.strip().upper().replace("-", "_").replace(" ", "_") if isinstance(value, str) else ""
    if method not in METHODS:
        alike = sorted(m for m in METHODS if method and m[:4] == method[:4])[:6]
        known = ", ".join(alike or ["API", "FORM", "MANUAL_ADD", "MANUAL_IMPORT", "SOFT_OPT_IN"])
        raise DomainError(field, f"is not a consent method (e.g. {known}); free text goes in --method-detail", value)
    return method
