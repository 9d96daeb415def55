//! Which transport (and store) a test runs on, and the settings that select it.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// SQLite, store-as-queue: the default install.
    Embedded,
    /// SQLite and Kafka.
    Kafka,
    /// MongoDB and Kafka: the production stack.
    MongoKafka,
}

impl Transport {
    /// Settings selecting this transport, with a topic, group and database of the test's own;
    /// `None` when no broker or server is configured and none is required (the test prints
    /// SKIPPED and passes).
    pub fn settings(self, test: &str) -> Option<Vec<(String, String)>> {
        match self {
            Transport::Embedded => Some(Vec::new()),
            Transport::MongoKafka => {
                let mut settings = Transport::Kafka.settings(test)?;
                let url = shared::mongo::test_database_url(test)?;
                settings.push(("DATABASE_URL".into(), url));
                Some(settings)
            }
            Transport::Kafka => {
                let brokers = kafka_brokers(test)?;
                let unique = uuid::Uuid::new_v4().simple().to_string();
                Some(vec![
                    ("KAFKA_BROKERS".into(), brokers),
                    ("KAFKA_TOPIC".into(), format!("wfa-test-{unique}")),
                    ("KAFKA_GROUP_ID".into(), format!("wfa-test-{unique}")),
                    ("KAFKA_PARTITIONS".into(), "3".into()),
                    ("KAFKA_SESSION_TIMEOUT".into(), "6s".into()),
                    (
                        "KAFKA_TASK_TOPIC_PREFIX".into(),
                        format!("wfa-test-{unique}.tasks."),
                    ),
                    (
                        "KAFKA_TASK_RESULTS_TOPIC".into(),
                        format!("wfa-test-{unique}.task-results"),
                    ),
                ])
            }
        }
    }
}

pub fn kafka_brokers(test: &str) -> Option<String> {
    match std::env::var("WFA_TEST_KAFKA_BROKERS") {
        Ok(brokers) if !brokers.is_empty() => Some(brokers),
        _ if std::env::var("WFA_REQUIRE_KAFKA").as_deref() == Ok("1") => {
            panic!("{test}: WFA_REQUIRE_KAFKA=1 but WFA_TEST_KAFKA_BROKERS is not set; run scripts/test")
        }
        _ => {
            eprintln!("SKIPPED: {test} on kafka: set WFA_TEST_KAFKA_BROKERS (scripts/test starts a tansu broker)");
            None
        }
    }
}
