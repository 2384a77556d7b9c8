"""Events — "tell us once": publish a change of circumstances once, deliver it to every
subscribing agency through a transactional outbox (see exchange.models.events)."""
