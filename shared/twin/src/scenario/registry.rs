//! The service's images in ECR, as CI leaves them: before a commit is pushed its image is
//! built and pushed under the version's tag, so the deploy gate reads its digest from moto's
//! ECR as it does from Amazon ECR.

use aws_sdk_ecr::error::ProvideErrorMetadata;
use serde_json::json;
use shipgate_aws::ecr::EcrImage;

use super::{Session, admin_sdk};
use crate::TwinError;

fn setup(e: impl std::fmt::Display) -> TwinError {
    TwinError::Setup(format!("the image registry: {e}"))
}

impl Session<'_> {
    /// Pushes the image of `tag` (once): its repository is created on first use; its
    /// manifest names one layer of its own, so each tag has a digest of its own.
    pub(super) async fn push_image(&self, tag: &str) -> Result<(), TwinError> {
        let reference = format!("{}:{tag}", self.stack.config.service.image);
        let Some(image) = EcrImage::parse(&reference) else {
            return Ok(());
        };
        let ecr = aws_sdk_ecr::Client::new(&admin_sdk(self.stack).await);
        if let Err(err) = ecr
            .create_repository()
            .repository_name(&image.repository)
            .send()
            .await
        {
            let err = err.into_service_error();
            if err.code() != Some("RepositoryAlreadyExistsException") {
                return Err(setup(format!("{err}: {:?}", err.message())));
            }
        }
        let layer = format!("sha256:{}", shipgate_core::model::sha256_hex(&reference));
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": 1024,
                "digest": layer,
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": 4096,
                "digest": layer,
            }],
        });
        if let Err(err) = ecr
            .put_image()
            .repository_name(&image.repository)
            .image_tag(&image.tag)
            .image_manifest(manifest.to_string())
            .send()
            .await
        {
            let err = err.into_service_error();
            if err.code() != Some("ImageAlreadyExistsException") {
                return Err(setup(format!("{err}: {:?}", err.message())));
            }
        }
        Ok(())
    }
}
