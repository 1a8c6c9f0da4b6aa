# Regenerates mmrm_transforms.json for tests/test_mmrm_levels.py with R's nlme::gls and emmeans:
# MMRMs whose formulas transform the outcome and the covariates.
#   cd tests/reference && Rscript mmrm_transforms.R
# Input: fev_data.csv (from the R package mmrm, copied unchanged).
# Fits (AR(1), REML; visits VIS1..VIS4 in order):
# - "transforms": log(FEV1) ~ I(WEIGHT * 2) + SEX + poly(FEV1_BL, 2) + ARMCD * AVISIT with
#   SEX's reference level Male (frailtrial: C(SEX, Treatment('Male'))); LS means of
#   ARMCD x AVISIT with FEV1_BL and WEIGHT at their means, as emmeans.
# - "reference": FEV1 ~ ARMCD * AVISIT with ARMCD's reference level TRT
#   (frailtrial: C(ARMCD, Treatment('TRT'))); the difference PBO - TRT at each visit.
suppressPackageStartupMessages({
  library(nlme)
  library(emmeans)
  library(jsonlite)
})

fev <- read.csv("fev_data.csv")
fev$AVISIT <- factor(fev$AVISIT)
ctrl <- glsControl(maxIter = 500, msMaxIter = 500, tolerance = 1e-10, msTol = 1e-12)

fit_one <- function(name, formula, data, specs, by) {
  data <- data[complete.cases(data[, all.vars(formula)]), ]
  fit <- gls(formula, data = data, correlation = corAR1(form = ~ VISITN | USUBJID),
             method = "REML", control = ctrl)
  tab <- summary(fit)$tTable
  # emmeans on the fit itself: it re-evaluates poly() with the basis of the fitted data
  em <- emmeans(fit, specs = specs, by = by, data = data, mode = "df.error")
  means <- summary(em)
  diff <- summary(contrast(em, method = "trt.vs.ctrl", ref = 1))
  list(
    name = name, formula = deparse(formula), covariance = "ar1", method = "reml",
    loglik = as.numeric(logLik(fit)), n_obs = nrow(data),
    terms = rownames(tab), estimate = unname(tab[, "Value"]), se = unname(tab[, "Std.Error"]),
    lsmeans = lapply(seq_len(nrow(means)), function(i) {
      list(arm = as.character(means[[specs]][i]), visit = as.character(means[[by]][i]),
           estimate = means$emmean[i], se = means$SE[i])
    }),
    contrasts = lapply(seq_len(nrow(diff)), function(i) {
      list(contrast = as.character(diff$contrast[i]), visit = as.character(diff[[by]][i]),
           estimate = diff$estimate[i], se = diff$SE[i])
    })
  )
}

transformed <- fev
transformed$SEX <- relevel(factor(transformed$SEX), ref = "Male")
reference <- fev
reference$ARMCD <- relevel(factor(reference$ARMCD), ref = "TRT")
fits <- list(
  fit_one("transforms",
          log(FEV1) ~ I(WEIGHT * 2) + SEX + poly(FEV1_BL, 2) + ARMCD * AVISIT,
          transformed, "ARMCD", "AVISIT"),
  fit_one("reference", FEV1 ~ ARMCD * AVISIT, reference, "ARMCD", "AVISIT")
)
write_json(fits, "mmrm_transforms.json", digits = NA, auto_unbox = TRUE, pretty = TRUE)
