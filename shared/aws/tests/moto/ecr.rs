//! Image digests read from ECR (`DescribeImages`), so a release deploys by digest: the
//! digest of a pushed tag, none for a tag or a repository ECR does not have, none for an
//! image of another registry.

use serde_json::json;
use shipgate_aws::ecr::EcrImages;
use shipgate_aws::ecs::EcsDeployer;
use shipgate_core::ports::Deployer;

use crate::helpers::Moto;

const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/roleferry-api";

/// Pushes `tag` with one layer of its own; the digest ECR gives it.
async fn push(ecr: &aws_sdk_ecr::Client, tag: &str) -> String {
    let layer = format!("sha256:{}", shipgate_core::model::sha256_hex(tag));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7, "digest": layer},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 9, "digest": layer}],
    });
    let out = ecr
        .put_image()
        .repository_name("team/roleferry-api")
        .image_tag(tag)
        .image_manifest(manifest.to_string())
        .send()
        .await
        .unwrap();
    out.image()
        .and_then(|i| i.image_id())
        .and_then(|id| id.image_digest())
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn given_pushed_images_when_their_digests_are_read_then_each_tag_has_its_own_and_unknown_ones_none()
 {
    let Some(moto) = Moto::start() else { return };
    let sdk = moto.sdk().await;
    let ecr = aws_sdk_ecr::Client::new(&sdk);
    let images = EcrImages::new(ecr.clone());
    // No repository yet: no digest, no error (the deploy goes on by tag).
    assert_eq!(
        images.digest(&format!("{IMAGE}:1.3.0")).await.unwrap(),
        None
    );
    ecr.create_repository()
        .repository_name("team/roleferry-api")
        .send()
        .await
        .unwrap();
    let first = push(&ecr, "1.3.0").await;
    let second = push(&ecr, "1.4.0").await;
    assert!(first.starts_with("sha256:") && first != second);
    assert_eq!(
        images.digest(&format!("{IMAGE}:1.3.0")).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        images.digest(&format!("{IMAGE}:1.4.0")).await.unwrap(),
        Some(second)
    );
    assert_eq!(
        images.digest(&format!("{IMAGE}:9.9.9")).await.unwrap(),
        None
    );
    // Another registry, or an image already pinned: nothing to read.
    assert_eq!(
        images.digest("docker.io/library/nginx:1.27").await.unwrap(),
        None
    );
    assert_eq!(
        images
            .digest(&format!("{IMAGE}:1.3.0@{first}"))
            .await
            .unwrap(),
        None
    );
    // The deployer answers through the registry it was given, and none without one.
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    let with = EcsDeployer::new(ecs.clone()).with_registry(images);
    assert_eq!(
        with.image_digest(&format!("{IMAGE}:1.3.0")).await.unwrap(),
        Some(first)
    );
    let without = EcsDeployer::new(ecs);
    assert_eq!(
        without
            .image_digest(&format!("{IMAGE}:1.3.0"))
            .await
            .unwrap(),
        None
    );
}
