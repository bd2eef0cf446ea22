//! A trial written in Rust, for users who outgrow TOML: the seed's example test.
//! It runs beside the scenario trials with the same flags and modes, and records to
//! `cassettes/http/otter_pipeline_in_rust.yaml` like any scenario.

use std::sync::Arc;

use mesh_toolkit::meshy::{Task, TaskRequest, TaskStatus, TaskType};
use mesh_toolkit::repository::UpdateSource;
use mesh_toolkit::suite::libtest_mimic::Trial;
use mesh_toolkit::suite::{Suite, check_glb};
use serde_json::json;

pub fn otter_pipeline_in_rust(suite: &Arc<Suite>) -> Trial {
    suite.custom("otter_pipeline_in_rust", |ctx| {
        let request = TaskRequest::from_json(
            TaskType::Text3d,
            json!({"prompt": "Otter holding a fish, written in Rust"}),
        )?;
        ctx.block_on(async {
            let callback = ctx.callback_url("otter", "text3d");
            let submission = ctx
                .service
                .submit_with_callback("otter", &request, callback.as_deref())
                .await?;
            let payload = ctx
                .recorder
                .payload(
                    &ctx.name,
                    "otter",
                    "text3d",
                    &submission.task_id,
                    ctx.timeout,
                )
                .await?;
            let task: Task = serde_json::from_value(payload)?;
            let handled = ctx.handler.handle(&task, UpdateSource::Webhook).await?;
            assert_eq!(handled.record.status, TaskStatus::Succeeded);
            let artifact = handled
                .record
                .artifacts
                .first()
                .ok_or("no GLB was downloaded")?;
            check_glb(&std::fs::read(
                ctx.handler.repository().root().join(&artifact.path),
            )?)?;
            Ok(())
        })
    })
}
