//! End-to-end tests: the real services, a real SQLite file, a real HTTP sink, and on the Kafka
//! variant a real broker. Assertions are on what users see: API answers, what the sink
//! received, and the recorded executions.

mod support;

mod auth;
mod bad_input;
mod broker_down;
mod browser;
mod busy;
mod cli;
mod compose;
mod concurrency;
mod connections;
mod crash;
mod cron;
mod crud;
mod data_flow;
mod egress;
mod hardening;
mod kafka_workers;
mod listing_memory;
mod manual;
mod metrics;
mod openapi;
mod overlap;
mod pause;
mod periodic;
mod processes;
mod rate_limit;
mod replicas;
mod retries;
mod secrets;
mod services;
mod steps;
mod store_down;
mod workers;
