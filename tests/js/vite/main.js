// Fixture: the rumor-gossip package imported by name into a Vite build (tests/js, run by
// `cargo xtask test`: `vite build` must bundle the module and emit the .wasm asset).
import init, { Rumor } from "rumor-gossip";

await init();
window.Rumor = Rumor;
