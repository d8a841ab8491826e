//! Image digests from Amazon ECR: `DescribeImages` on the repository an image reference
//! names (`<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`), so a release is
//! deployed by digest and production runs exactly what staging ran.

use aws_sdk_ecr::Client;
use aws_sdk_ecr::config::Region;
use aws_sdk_ecr::error::ProvideErrorMetadata;
use aws_sdk_ecr::types::ImageIdentifier;
use shipgate_core::ports::DeployError;
use tracing::warn;

/// An image in an ECR registry, as its reference names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    /// The registry's account.
    pub account: String,
    /// The registry's region.
    pub region: String,
    /// The repository's name (it may have `/` in it).
    pub repository: String,
    /// The tag.
    pub tag: String,
}

impl EcrImage {
    /// `image` as an ECR image with a tag; `None` for any other registry, or a reference
    /// already pinned by digest or without a tag.
    pub fn parse(image: &str) -> Option<EcrImage> {
        if image.contains('@') {
            return None;
        }
        let (host, path) = image.split_once('/')?;
        let mut labels = host.split('.');
        let (account, dkr, ecr, region) = (
            labels.next()?,
            labels.next()?,
            labels.next()?,
            labels.next()?,
        );
        let rest: Vec<&str> = labels.collect();
        let known_suffix = matches!(
            rest.as_slice(),
            ["amazonaws", "com"] | ["amazonaws", "com", "cn"]
        );
        if dkr != "dkr"
            || ecr != "ecr"
            || !known_suffix
            || account.len() != 12
            || !account.bytes().all(|b| b.is_ascii_digit())
        {
            return None;
        }
        let (repository, tag) = path.rsplit_once(':')?;
        if repository.is_empty() || tag.is_empty() || tag.contains('/') {
            return None;
        }
        Some(EcrImage {
            account: account.to_string(),
            region: region.to_string(),
            repository: repository.to_string(),
            tag: tag.to_string(),
        })
    }
}

/// Reads image digests from ECR.
#[derive(Debug, Clone)]
pub struct EcrImages {
    client: Client,
}

impl EcrImages {
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// The digest ECR holds for `image`; `None` when it is not an ECR image, or its
    /// repository or tag is not there (the deploy goes on by tag, and says so).
    pub async fn digest(&self, image: &str) -> Result<Option<String>, DeployError> {
        let Some(ecr) = EcrImage::parse(image) else {
            return Ok(None);
        };
        let found = self
            .client
            .describe_images()
            .registry_id(&ecr.account)
            .repository_name(&ecr.repository)
            .image_ids(ImageIdentifier::builder().image_tag(&ecr.tag).build())
            .customize()
            .config_override(
                aws_sdk_ecr::config::Builder::default().region(Region::new(ecr.region.clone())),
            )
            .send()
            .await;
        match found {
            Ok(out) => Ok(out
                .image_details()
                .iter()
                .find_map(|d| d.image_digest().map(str::to_string))),
            Err(err) => {
                let service = err.into_service_error();
                match service.code() {
                    Some("ImageNotFoundException" | "RepositoryNotFoundException") => {
                        warn!(image, error = %service.message().unwrap_or_default(), "the image is not in ECR: no digest");
                        Ok(None)
                    }
                    Some("AccessDeniedException" | "InvalidParameterException") => {
                        Err(DeployError::Refused(format!(
                            "ECR would not describe {image}: {}",
                            service.message().unwrap_or_default()
                        )))
                    }
                    _ => Err(DeployError::Unavailable(Box::new(service))),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_image_references_when_parsed_then_only_tagged_ecr_images_are_read() {
        let image = EcrImage::parse(
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/roleferry-api:1.2.0",
        )
        .unwrap();
        assert_eq!(
            (image.account.as_str(), image.region.as_str()),
            ("123456789012", "eu-west-1")
        );
        assert_eq!(
            (image.repository.as_str(), image.tag.as_str()),
            ("team/roleferry-api", "1.2.0")
        );
        for other in [
            "docker.io/library/nginx:1.27",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/api:1.2.0@sha256:ab",
            "1234.dkr.ecr.eu-west-1.amazonaws.com/api:1.2.0",
            "123456789012.dkr.ecr.eu-west-1.example.com/api:1.2.0",
            "registry:5000/api",
            "",
        ] {
            assert_eq!(EcrImage::parse(other), None, "{other}");
        }
    }
}
