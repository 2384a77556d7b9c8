// Start GOV.UK Frontend's components (menus, error summaries, character counts, ...).
import { initAll } from "../govuk/govuk-frontend.min.js";

initAll();
