//! The users' contact list on the twin: created in moto's SES v2 as a team keeps it on AWS
//! (a list with a releases topic, contacts with their choices), and the emails SES sent
//! them read back.

use aws_sdk_sesv2::types::{SubscriptionStatus, Topic, TopicPreference};
use serde_json::Value;
use shipgate_local::demo::user_email_problem;

use super::{Session, admin_sdk, text_of};
use crate::TwinError;

fn setup(e: impl std::fmt::Display) -> TwinError {
    TwinError::Setup(format!("the users' contact list: {e}"))
}

fn status(opt_in: bool) -> SubscriptionStatus {
    if opt_in {
        SubscriptionStatus::OptIn
    } else {
        SubscriptionStatus::OptOut
    }
}

impl Session<'_> {
    /// Creates the configured contact list with the demo's users, if users are configured.
    pub(super) async fn create_contact_list(&self) -> Result<(), TwinError> {
        let Some(users) = self.stack.config.notifications.users.clone() else {
            return Ok(());
        };
        let ses = aws_sdk_sesv2::Client::new(&admin_sdk(self.stack).await);
        let list = shipgate_local::demo::users();
        let topic = Topic::builder()
            .topic_name(&users.topic)
            .display_name("Release news")
            .default_subscription_status(status(list.topic_default_opt_in))
            .build()
            .map_err(setup)?;
        ses.create_contact_list()
            .contact_list_name(&users.contact_list)
            .topics(topic)
            .send()
            .await
            .map_err(|e| setup(e.into_service_error()))?;
        for contact in &list.contacts {
            let mut create = ses
                .create_contact()
                .contact_list_name(&users.contact_list)
                .email_address(&contact.email)
                .unsubscribe_all(contact.unsubscribe_all);
            if let Some(name) = &contact.name {
                create = create.attributes_data(serde_json::json!({ "name": name }).to_string());
            }
            if let Some(subscribed) = contact.subscribed {
                create = create.topic_preferences(
                    TopicPreference::builder()
                        .topic_name(&users.topic)
                        .subscription_status(status(subscribed))
                        .build()
                        .map_err(setup)?,
                );
            }
            create
                .send()
                .await
                .map_err(|e| setup(e.into_service_error()))?;
        }
        Ok(())
    }

    /// [`user_email_problem`] on the mail SES sent.
    pub(super) async fn user_email(
        &mut self,
        to: &str,
        says: Option<&str>,
    ) -> Result<(), TwinError> {
        let mail = self.stack.control.mail().await?;
        let sent = mail.iter().flat_map(|m: &Value| {
            let text = text_of(m);
            m["to"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(move |address| (address, text.clone()))
                .collect::<Vec<_>>()
        });
        self.problems.extend(user_email_problem(sent, to, says));
        Ok(())
    }
}
