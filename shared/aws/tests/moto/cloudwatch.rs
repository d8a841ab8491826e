//! CloudWatch alarms (set with `SetAlarmState`) and metrics.

use aws_sdk_cloudwatch::Client;
use aws_sdk_cloudwatch::primitives::DateTime as AwsDateTime;
use aws_sdk_cloudwatch::types::{
    ComparisonOperator, Dimension, MetricDatum, StateValue, Statistic,
};
use chrono::{Duration, Utc};
use shipgate_aws::cloudwatch::{CloudWatchAlarms, MetricsSource};
use shipgate_core::ports::{Alarms, AlarmsError};

use crate::helpers::Moto;

pub(crate) async fn put_alarm(client: &Client, name: &str) {
    client
        .put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(10.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn given_alarms_when_read_then_each_reports_its_state_and_an_unknown_one_is_an_error() {
    let Some(moto) = Moto::start() else { return };
    let client = Client::new(&moto.sdk().await);
    put_alarm(&client, "roleferry-api-5xx-rate").await;
    put_alarm(&client, "roleferry-api-p99-latency").await;
    let alarms = CloudWatchAlarms::new(client.clone(), None);
    let names = vec![
        "roleferry-api-5xx-rate".to_string(),
        "roleferry-api-p99-latency".to_string(),
    ];
    let states = alarms.states(&names).await.unwrap();
    assert!(states.iter().all(|s| !s.in_alarm), "{states:?}");

    client
        .set_alarm_state()
        .alarm_name("roleferry-api-5xx-rate")
        .state_value(StateValue::Alarm)
        .state_reason("Threshold Crossed: 1 datapoint [42.0] was greater than 10.0")
        .send()
        .await
        .unwrap();
    let states = alarms.states(&names).await.unwrap();
    assert!(states[0].in_alarm && !states[1].in_alarm);
    assert!(states[0].reason.contains("Threshold Crossed"));

    let err = alarms
        .states(&["does-not-exist".to_string()])
        .await
        .unwrap_err();
    assert!(matches!(err, AlarmsError::UnknownAlarm(name) if name == "does-not-exist"));
}

#[tokio::test]
async fn given_load_balancer_metrics_when_read_then_the_error_rate_is_errors_over_requests() {
    let Some(moto) = Moto::start() else { return };
    let client = Client::new(&moto.sdk().await);
    let now = Utc::now();
    let lb = "app/roleferry-prod/0123456789abcdef";
    for (metric, value) in [
        ("HTTPCode_Target_5XX_Count", 5.0),
        ("RequestCount", 1000.0),
        ("TargetResponseTime", 0.25),
    ] {
        client
            .put_metric_data()
            .namespace("AWS/ApplicationELB")
            .metric_data(
                MetricDatum::builder()
                    .metric_name(metric)
                    .dimensions(Dimension::builder().name("LoadBalancer").value(lb).build())
                    .timestamp(AwsDateTime::from_secs(
                        (now - Duration::minutes(5)).timestamp(),
                    ))
                    .value(value)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
    // moto limitation: percentile statistics (p99) fail inside moto, so this test reads the
    // latency as Maximum; production uses p99 (MetricsSource::load_balancer's default).
    let mut source = MetricsSource::load_balancer(lb, None);
    assert_eq!(source.latency_stat, "p99");
    source.latency_stat = "Maximum".into();
    let alarms = CloudWatchAlarms::new(client, Some(source));
    let sample = alarms
        .metrics(&"api".parse().unwrap(), now - Duration::minutes(30), now)
        .await
        .unwrap();
    let rate = sample.error_rate.expect("requests were recorded");
    assert!((rate - 0.005).abs() < 1e-9, "{rate}");
    assert_eq!(sample.p99_latency_ms, Some(250.0));

    let none = CloudWatchAlarms::new(Client::new(&moto.sdk().await), None);
    let sample = none
        .metrics(&"api".parse().unwrap(), now - Duration::minutes(30), now)
        .await
        .unwrap();
    assert_eq!((sample.error_rate, sample.p99_latency_ms), (None, None));
}

/// CloudWatch's `DescribeAlarms` as its API reference describes `AlarmTypes` (moto returns
/// both kinds whatever it says): without it, metric alarms only; composite alarms only
/// when asked for. On 127.0.0.1, stopped when the test ends.
async fn alarm_types_double() -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/",
        post(|body: String| async move {
            let types: Vec<&str> = body
                .split('&')
                .filter(|p| p.starts_with("AlarmTypes.member."))
                .filter_map(|p| p.split_once('=').map(|(_, v)| v))
                .collect();
            let metric = types.is_empty() || types.contains(&"MetricAlarm");
            let composite = types.contains(&"CompositeAlarm");
            let member = |name: &str, state: &str, reason: &str| {
                format!("<member><AlarmName>{name}</AlarmName><StateValue>{state}</StateValue><StateReason>{reason}</StateReason></member>")
            };
            let metrics = if metric {
                member("roleferry-api-5xx-rate", "OK", "Threshold not crossed")
            } else {
                String::new()
            };
            let composites = if composite {
                member(
                    "roleferry-api-health",
                    "ALARM",
                    "arn:aws:cloudwatch:us-east-1:123456789012:alarm:roleferry-api-p99-latency transitioned to ALARM",
                )
            } else {
                String::new()
            };
            (
                [("content-type", "text/xml")],
                format!(
                    "<DescribeAlarmsResponse xmlns=\"http://monitoring.amazonaws.com/doc/2010-08-01/\"><DescribeAlarmsResult><MetricAlarms>{metrics}</MetricAlarms><CompositeAlarms>{composites}</CompositeAlarms></DescribeAlarmsResult><ResponseMetadata><RequestId>r-1</RequestId></ResponseMetadata></DescribeAlarmsResponse>"
                ),
            )
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (url, server)
}

#[tokio::test]
async fn given_a_composite_alarm_watched_when_read_then_it_is_asked_for_and_its_state_counts() {
    let (url, server) = alarm_types_double().await;
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&url)
        .http_client(shipgate_aws::sdk::sdk_http_client())
        .credentials_provider(aws_sdk_cloudwatch::config::Credentials::new(
            "testing", "testing", None, None, "double",
        ))
        .load()
        .await;
    let alarms = CloudWatchAlarms::new(Client::new(&sdk), None);
    let states = alarms
        .states(&[
            "roleferry-api-5xx-rate".to_string(),
            "roleferry-api-health".to_string(),
        ])
        .await
        .unwrap();
    server.abort();
    assert!(!states[0].in_alarm, "{states:?}");
    assert!(states[1].in_alarm, "{states:?}");
    assert!(states[1].reason.contains("roleferry-api-p99-latency"));
}
