from django.apps import AppConfig


class KafkaBridgeConfig(AppConfig):
    name = "kafka_bridge"
