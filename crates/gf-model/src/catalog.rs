//! The accelerator catalog: what each GPU type brings (memory, speed, power)
//! so that cost per unit of work, power headroom and topology can be compared
//! across vendors and generations.
//!
//! Throughput is relative to one H100 SXM (1.0). Power is per GPU at load and
//! includes the server's share (CPUs, NICs, fans) and facility overhead at a
//! PUE of 1.2, because the site power envelope is a facility figure. Every
//! built-in figure names its public source; a fleet file may override any
//! entry or add new ones with `[[accelerator]]`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Who makes the accelerator: vendor diversification is counted on this.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Vendor {
    /// NVIDIA (CUDA).
    Nvidia,
    /// AMD (ROCm).
    Amd,
    /// Any other vendor (TPU, Trainium, in-house silicon).
    Other,
}

impl Vendor {
    /// The name used in files and output.
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Nvidia => "nvidia",
            Vendor::Amd => "amd",
            Vendor::Other => "other",
        }
    }

    /// Every vendor name a file may use.
    pub const NAMES: [&'static str; 3] = ["nvidia", "amd", "other"];

    /// Parses a vendor name as written in a file.
    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "nvidia" => Some(Vendor::Nvidia),
            "amd" => Some(Vendor::Amd),
            "other" => Some(Vendor::Other),
            _ => None,
        }
    }
}

/// One catalog entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Accelerator {
    /// Lowercase name used everywhere (`gb200`).
    pub name: String,
    /// Who makes it.
    pub vendor: Vendor,
    /// High-bandwidth memory per GPU, GiB.
    pub hbm_gib: f64,
    /// Training throughput relative to one H100 SXM.
    pub train_throughput: f64,
    /// Inference throughput relative to one H100 SXM.
    pub infer_throughput: f64,
    /// Facility power per GPU at load, kW (server share and PUE included).
    pub power_kw: f64,
    /// GPUs in one NVLink (scale-up) domain in the usual system.
    pub domain_gpus: u32,
}

/// The accelerators a fleet knows: the built-in entries plus the file's own.
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    entries: Vec<Accelerator>,
}

fn acc(
    name: &str,
    vendor: Vendor,
    hbm_gib: f64,
    train: f64,
    infer: f64,
    power_kw: f64,
    domain_gpus: u32,
) -> Accelerator {
    Accelerator {
        name: name.to_string(),
        vendor,
        hbm_gib,
        train_throughput: train,
        infer_throughput: infer,
        power_kw,
        domain_gpus,
    }
}

impl Catalog {
    /// The built-in catalog.
    pub fn builtin() -> Self {
        use Vendor::*;
        let entries = vec![
            // H100 SXM5: 80 GB HBM3, 700 W TDP (NVIDIA H100 datasheet); DGX H100 draws
            // 10.2 kW for 8 GPUs (DGX H100 user guide) -> 1.275 kW x PUE 1.2 = 1.53 kW.
            // The reference for relative throughput. HGX board: 8 GPUs per NVLink domain.
            acc("h100", Nvidia, 74.5, 1.0, 1.0, 1.53, 8),
            // H200: 141 GB HBM3e at 4.8 TB/s, 700 W (NVIDIA H200 datasheet). Same compute as
            // H100; MLPerf Training v4.0 shows ~1.1x on GPT-3, MLPerf Inference v4.0 ~1.45x
            // on Llama 2 70B (NVIDIA MLPerf blog, 2024).
            acc("h200", Nvidia, 131.3, 1.1, 1.45, 1.53, 8),
            // B200 (HGX B200): 180 GB HBM3e, 1,000 W; DGX B200 draws 14.3 kW for 8 GPUs
            // (DGX B200 datasheet) -> 1.79 kW x 1.2 = 2.15 kW. MLPerf Training v4.1: ~2.2x
            // H100 per GPU on GPT-3 175B; MLPerf Inference v4.1: ~4x on Llama 2 70B.
            acc("b200", Nvidia, 167.6, 2.2, 4.0, 2.15, 8),
            // GB200 NVL72: 72 Blackwell GPUs, 13.4 TB HBM3e per rack (186 GB each), ~132 kW
            // per rack (NVIDIA GB200 NVL72 spec; SemiAnalysis rack power) -> 1.83 kW x 1.2
            // = 2.2 kW. MLPerf Training v5.0: ~2.5x H100 per GPU; NVIDIA cites 30x real-time
            // trillion-parameter inference at rack scale, we take a conservative 5x.
            acc("gb200", Nvidia, 173.2, 2.5, 5.0, 2.2, 72),
            // GB300 NVL72: 288 GB HBM3e per GPU, 1,400 W, ~135-140 kW per rack (NVIDIA
            // GB300 NVL72 spec) -> 1.94 kW x 1.2 = 2.33 kW. NVIDIA cites 1.5x GB200 on
            // inference (Blackwell Ultra announcement, GTC 2025); training ~1.2x GB200.
            acc("gb300", Nvidia, 268.2, 3.0, 7.5, 2.33, 72),
            // MI300X: 192 GB HBM3, 750 W (AMD Instinct MI300X datasheet); 8-GPU Infinity
            // Fabric platform. MLPerf Inference v4.1 Llama 2 70B: on par with H100;
            // training ~0.9x H100 (MLPerf Training v5.0 submissions).
            acc("mi300x", Amd, 178.8, 0.9, 1.1, 1.6, 8),
            // MI355X: 288 GB HBM3E, 1,400 W (AMD Instinct MI355X datasheet, June 2025); AMD
            // cites ~2.2x training and up to 3.5x inference of MI300X-class parts vs H100
            // baselines; 8 GPUs per platform.
            acc("mi355x", Amd, 268.2, 2.2, 3.5, 2.4, 8),
        ];
        Catalog { entries }
    }

    /// The catalog with `extra` entries added, or replacing built-in ones of the same name.
    pub fn with_overrides(extra: &[Accelerator]) -> Self {
        let mut c = Catalog::builtin();
        for a in extra {
            match c.entries.iter_mut().find(|e| e.name == a.name) {
                Some(e) => *e = a.clone(),
                None => c.entries.push(a.clone()),
            }
        }
        c
    }

    /// The entry of that name.
    pub fn get(&self, name: &str) -> Option<&Accelerator> {
        self.entries.iter().find(|a| a.name == name)
    }

    /// The position of that name, used as a dense ordinal by the scheduler.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|a| a.name == name)
    }

    /// Every entry, in catalog order.
    pub fn entries(&self) -> &[Accelerator] {
        &self.entries
    }

    /// The names, comma-separated, for error messages that list what is accepted.
    pub fn names(&self) -> String {
        self.entries
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::builtin()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_the_required_entries() {
        let c = Catalog::builtin();
        for n in ["h100", "h200", "b200", "gb200", "gb300", "mi300x", "mi355x"] {
            let a = c.get(n).unwrap();
            assert!(a.power_kw > 0.0 && a.train_throughput > 0.0 && a.hbm_gib > 0.0);
        }
        assert_eq!(c.get("gb200").unwrap().domain_gpus, 72);
    }

    #[test]
    fn overrides_replace_and_add() {
        let mut h = Catalog::builtin().get("h100").unwrap().clone();
        h.power_kw = 1.0;
        let tpu = acc("tpu-v5p", Vendor::Other, 95.0, 1.0, 1.0, 1.0, 4);
        let c = Catalog::with_overrides(&[h, tpu]);
        assert_eq!(c.get("h100").unwrap().power_kw, 1.0);
        assert!(c.get("tpu-v5p").is_some());
        assert_eq!(c.entries().len(), 8);
    }
}
