"""Pages of the exchange app: the catalogue of data services (staff; published by the
provider's admins and data stewards) and the signed message log (auditors).

Each page is guarded by `identity.views.page(action)`; the selectors and services it
calls decide again for the object at hand. A refused action is shown on the page, beside
the field it concerns where there is one, and nothing is changed.
"""

from exchange.views import catalogue, log

__all__ = ["catalogue", "log"]
