"""Pages of the consent app: staff pages for agreements and purposes, the citizen's
consents and "who accessed my data", and the auditors' access log of a person.

Each page is guarded by `identity.views.page(action)`; the selectors and services it
calls decide again for the object at hand. A refused action is shown on the page, beside
the field it concerns where there is one, and nothing is changed.
"""

from consent.views import agreements, audit, citizens

__all__ = ["agreements", "audit", "citizens"]
