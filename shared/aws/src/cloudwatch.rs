//! CloudWatch: the state of the configured alarms (`DescribeAlarms`) and the service's
//! error rate and p99 latency over the monitoring so far (`GetMetricData`), by default from
//! its Application Load Balancer's metrics.

use async_trait::async_trait;
use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{
    AlarmType, Dimension, Metric, MetricDataQuery, MetricStat, StateValue,
};
use chrono::{DateTime, Utc};
use shipgate_core::model::ServiceName;
use shipgate_core::ports::{AlarmState, Alarms, AlarmsError, MetricsSample};

/// Where the service's request metrics live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsSource {
    pub namespace: String,
    pub dimensions: Vec<(String, String)>,
    pub errors_metric: String,
    pub requests_metric: String,
    /// In seconds, as ALB reports it.
    pub latency_metric: String,
    /// `p99` in production.
    pub latency_stat: String,
}

impl MetricsSource {
    /// An Application Load Balancer's metrics (`app/<name>/<id>`), optionally per target group.
    pub fn load_balancer(load_balancer: &str, target_group: Option<&str>) -> Self {
        let mut dimensions = vec![("LoadBalancer".to_string(), load_balancer.to_string())];
        if let Some(tg) = target_group {
            dimensions.push(("TargetGroup".to_string(), tg.to_string()));
        }
        MetricsSource {
            namespace: "AWS/ApplicationELB".into(),
            dimensions,
            errors_metric: "HTTPCode_Target_5XX_Count".into(),
            requests_metric: "RequestCount".into(),
            latency_metric: "TargetResponseTime".into(),
            latency_stat: "p99".into(),
        }
    }
}

pub struct CloudWatchAlarms {
    client: Client,
    metrics: Option<MetricsSource>,
}

fn unavailable<E: std::error::Error + Send + Sync + 'static>(err: E) -> AlarmsError {
    AlarmsError::Unavailable(Box::new(err))
}

impl CloudWatchAlarms {
    /// Without a metrics source only alarms are watched (error rate and latency are n/a).
    pub fn new(client: Client, metrics: Option<MetricsSource>) -> Self {
        Self { client, metrics }
    }

    fn query(
        &self,
        source: &MetricsSource,
        id: &str,
        metric: &str,
        stat: &str,
        period: i32,
    ) -> MetricDataQuery {
        let dimensions = source
            .dimensions
            .iter()
            .map(|(n, v)| Dimension::builder().name(n).value(v).build())
            .collect();
        MetricDataQuery::builder()
            .id(id)
            .metric_stat(
                MetricStat::builder()
                    .metric(
                        Metric::builder()
                            .namespace(&source.namespace)
                            .metric_name(metric)
                            .set_dimensions(Some(dimensions))
                            .build(),
                    )
                    .period(period)
                    .stat(stat)
                    .build(),
            )
            .return_data(true)
            .build()
    }
}

#[async_trait]
impl Alarms for CloudWatchAlarms {
    async fn states(&self, names: &[String]) -> Result<Vec<AlarmState>, AlarmsError> {
        if names.is_empty() {
            return Ok(vec![]);
        }
        // Both kinds: without `AlarmTypes` CloudWatch answers with metric alarms only, and
        // a watched composite alarm would look unknown.
        let out = self
            .client
            .describe_alarms()
            .set_alarm_names(Some(names.to_vec()))
            .alarm_types(AlarmType::MetricAlarm)
            .alarm_types(AlarmType::CompositeAlarm)
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let mut states = Vec::new();
        for name in names {
            let alarm = out
                .metric_alarms()
                .iter()
                .find(|a| a.alarm_name() == Some(name.as_str()));
            let composite = out
                .composite_alarms()
                .iter()
                .find(|a| a.alarm_name() == Some(name.as_str()));
            let (value, reason) = match (alarm, composite) {
                (Some(a), _) => (a.state_value(), a.state_reason()),
                (None, Some(c)) => (c.state_value(), c.state_reason()),
                // A watched alarm that does not exist is a configuration error, said loudly.
                (None, None) => return Err(AlarmsError::UnknownAlarm(name.clone())),
            };
            states.push(AlarmState {
                name: name.clone(),
                in_alarm: value == Some(&StateValue::Alarm),
                reason: reason.unwrap_or_default().to_string(),
            });
        }
        Ok(states)
    }

    async fn metrics(
        &self,
        _service: &ServiceName,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<MetricsSample, AlarmsError> {
        let Some(source) = &self.metrics else {
            return Ok(MetricsSample {
                error_rate: None,
                p99_latency_ms: None,
            });
        };
        let seconds = (to - from).num_seconds().max(60);
        let period = i32::try_from(((seconds + 59) / 60) * 60).unwrap_or(i32::MAX - 59);
        let out = self
            .client
            .get_metric_data()
            .metric_data_queries(self.query(source, "errors", &source.errors_metric, "Sum", period))
            .metric_data_queries(self.query(
                source,
                "requests",
                &source.requests_metric,
                "Sum",
                period,
            ))
            .metric_data_queries(self.query(
                source,
                "latency",
                &source.latency_metric,
                &source.latency_stat,
                period,
            ))
            .start_time(AwsDateTime::from_secs(from.timestamp()))
            .end_time(AwsDateTime::from_secs(
                to.timestamp().max(from.timestamp() + 60),
            ))
            .send()
            .await
            .map_err(|e| unavailable(e.into_service_error()))?;
        let total = |id: &str| -> Option<f64> {
            let values = out
                .metric_data_results()
                .iter()
                .find(|r| r.id() == Some(id))?
                .values()
                .to_vec();
            (!values.is_empty()).then(|| values.iter().sum())
        };
        let worst = |id: &str| -> Option<f64> {
            out.metric_data_results()
                .iter()
                .find(|r| r.id() == Some(id))?
                .values()
                .iter()
                .copied()
                .reduce(f64::max)
        };
        let error_rate = match (total("errors"), total("requests")) {
            (errors, Some(requests)) if requests > 0.0 => Some(errors.unwrap_or(0.0) / requests),
            _ => None,
        };
        Ok(MetricsSample {
            error_rate,
            p99_latency_ms: worst("latency").map(|s| s * 1000.0),
        })
    }
}
