# Regenerates tests/reference/fit_conf_level.json for tests/test_fit_results.py: intervals at a
# confidence level other than 95 % (90 %) from R, for both mixed-model fits.
#   random intercept: lme4::lmer (ML) + lmerTest (Satterthwaite df; contest() for the
#     coefficients) + emmeans (least-squares means and trt.vs.ctrl contrasts by visit, unadjusted)
#     on sim_trial_30x6.csv (written by lmm_fixtures.R);
#   MMRM: nlme::gls, unstructured covariance (corSymm + varIdent), REML, + emmeans on the gls
#     estimates with the residual df N - p (SAS ddfm=residual, frailtrial's df = "residual";
#     emmeans' own mode = "df.error" also subtracts the 9 covariance parameters) on
#     fev_data.csv.
# Run from the repository root:  Rscript tests/reference/fit_conf_level.R
# (R 4.2 with lme4, lmerTest, nlme, emmeans, jsonlite)
suppressPackageStartupMessages({
  library(lmerTest)
  library(nlme)
  library(emmeans)
  library(jsonlite)
})
out_dir <- "tests/reference"
level <- 0.90

frame_of <- function(x, by, time) {
  x <- as.data.frame(x)
  data.frame(group = as.character(x[[by]]), time = as.character(x[[time]]),
             estimate = x[[3]], se = x$SE, df = x$df, ci_low = x$lower.CL, ci_high = x$upper.CL)
}

# ---- random intercept, ML, Satterthwaite
sim <- read.csv(file.path(out_dir, "sim_trial_30x6.csv"))
m <- lmer(value ~ arm * visit + (1 | participant_id), data = sim, REML = FALSE)
p <- length(fixef(m))
ct <- contest(m, diag(p), joint = FALSE, confint = TRUE, level = level)
em <- emmeans(m, ~ arm | visit, lmer.df = "satterthwaite")
lmm <- list(
  data = "sim_trial_30x6.csv", formula = "value ~ arm * visit", subject = "participant_id",
  method = "ml", df = "satterthwaite", conf_level = level,
  coefficients = data.frame(term = names(fixef(m)), estimate = ct$Estimate,
                            se = ct[["Std. Error"]], df = ct$df,
                            ci_low = ct$lower, ci_high = ct$upper),
  lsmeans = frame_of(confint(em, level = level), "arm", "visit"),
  contrasts = frame_of(confint(contrast(em, "trt.vs.ctrl", adjust = "none"), level = level),
                       "contrast", "visit")
)

# ---- MMRM, unstructured, REML, residual df
fev <- read.csv(file.path(out_dir, "fev_data.csv"))
fev <- fev[complete.cases(fev[, c("FEV1", "RACE", "SEX", "ARMCD", "AVISIT")]), ]
for (v in c("RACE", "SEX", "ARMCD", "AVISIT")) fev[[v]] <- factor(fev[[v]])
ctrl <- glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12)
g <- gls(FEV1 ~ RACE + SEX + ARMCD * AVISIT, data = fev,
         correlation = corSymm(form = ~ VISITN | USUBJID), weights = varIdent(form = ~ 1 | AVISIT),
         method = "REML", control = ctrl)
grid <- qdrg(formula = formula(g), data = fev, coef = coef(g), vcov = vcov(g),
             df = g$dims$N - g$dims$p)
emg <- emmeans(grid, ~ ARMCD | AVISIT)
mmrm <- list(
  data = "fev_data.csv", formula = "FEV1 ~ RACE + SEX + ARMCD * AVISIT", subject = "USUBJID",
  visit = "AVISIT", covariance = "us", method = "reml", df = "residual", conf_level = level,
  loglik = as.numeric(logLik(g)),
  lsmeans = frame_of(confint(emg, level = level), "ARMCD", "AVISIT"),
  contrasts = frame_of(confint(contrast(emg, "trt.vs.ctrl", adjust = "none"), level = level),
                       "contrast", "AVISIT")
)
writeLines(toJSON(list(random_intercept = lmm, mmrm = mmrm), digits = NA, auto_unbox = TRUE,
                  pretty = TRUE, dataframe = "rows"),
           file.path(out_dir, "fit_conf_level.json"))
