from django.apps import AppConfig


class KafkaBridgeConfig(AppConfig):
    name = "kafka_bridge"
    verbose_name = "Kafka bridge"

    def ready(self) -> None:
        from core.health import register_check
        from kafka_bridge import receivers
        from kafka_bridge.health import check_kafka

        register_check("kafka", check_kafka)
        receivers.connect()
