//! The game's asset pipeline (a stand-in): what a studio's crate holds beside the suite.

/// Where the game keeps a species' model.
pub fn model_path(species: &str) -> String {
    format!("assets/models/{species}.glb")
}

#[cfg(test)]
mod tests {
    #[test]
    fn models_live_under_assets() {
        assert_eq!(super::model_path("fox"), "assets/models/fox.glb");
    }
}
