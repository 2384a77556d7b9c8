from django.apps import AppConfig


class ExchangeConfig(AppConfig):
    name = "exchange"
    verbose_name = "Exchange (service catalogue, mediated requests, message log, events)"

    def ready(self) -> None:
        # Consent sits below the exchange, so the exchange tells consent how its webhooks
        # are delivered (through the outbox), not the other way round: see consent.notify.
        from consent import notify
        from exchange.events.consent import consent_change_notify

        notify.publisher_register(consent_change_notify)
