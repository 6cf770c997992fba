"""The brokers `make dev` and the tests can start on this machine (kafka_bridge.embedded runs
them): Tansu, in memory, and Apache Kafka, on disk."""
