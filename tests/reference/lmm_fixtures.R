# Regenerates the random-intercept fixtures of tests/test_lmm.py:
#   sim_trial_30x6.csv   a simulated 30-participant x 6-visit trial (committed input)
#   sim_singular.csv     a small data set whose random-intercept variance estimate is 0
#   lmm_fixtures.json    lme4::lmer + lmerTest + emmeans results for each model below
# Run from the repository root:  Rscript tests/reference/lmm_fixtures.R
# (R 4.2 with lme4, lmerTest, emmeans, pbkrtest, jsonlite)
suppressMessages({
  library(lmerTest)
  library(emmeans)
  library(jsonlite)
})
out_dir <- "tests/reference"

# ---- simulated trial: 30 participants (15 per arm), 6 visits, ~8 % visits missed
set.seed(20240501)
n <- 30
visits <- c("d000", "d007", "d030", "d060", "d090", "d180")
arm <- rep(c("msc", "placebo"), each = n / 2)
base <- rnorm(n, 40, 8)
u <- rnorm(n, 0, 4)
sim <- do.call(rbind, lapply(seq_len(n), function(i) {
  eff <- if (arm[i] == "msc") c(0, 2, 4, 5, 6, 7) else c(0, 0.5, 1, 1, 1.5, 1)
  value <- base[i] + u[i] + eff + rnorm(6, 0, 5)
  data.frame(participant_id = sprintf("P%02d", i), arm = arm[i], visit = visits,
             value = round(value, 3), base = round(base[i] + u[i], 3))
}))
set.seed(7)
miss <- sample(which(sim$visit != "d000"), 14)
sim$value[miss] <- NA
sim$chg <- round(sim$value - ave(ifelse(sim$visit == "d000", sim$value, NA),
                                 sim$participant_id, FUN = function(v) max(v, na.rm = TRUE)), 3)
sim$chg[sim$visit == "d000"] <- NA
write.csv(sim, file.path(out_dir, "sim_trial_30x6.csv"), row.names = FALSE, na = "")

# ---- a data set where the ML random-intercept variance sits on the boundary (0)
set.seed(11)
sing <- data.frame(id = rep(sprintf("S%02d", 1:12), each = 3),
                   grp = rep(c("a", "b"), each = 18),
                   time = rep(c("t1", "t2", "t3"), 12))
e <- matrix(rnorm(36), 12, 3)
e <- e - rowMeans(e) * 1.5  # negative within-subject correlation
sing$y <- round(10 + as.vector(t(e)) + (sing$grp == "b") * 0.5, 4)
write.csv(sing, file.path(out_dir, "sim_singular.csv"), row.names = FALSE)

# ---- a 3-arm dose-finding trial (CRATUS-like): placebo, low, high dose; 4 visits
set.seed(99)
arms3 <- rep(c("dose_high", "dose_low", "placebo"), each = 8)
v3 <- c("m0", "m3", "m6", "m12")
three <- do.call(rbind, lapply(seq_along(arms3), function(i) {
  slope <- c(dose_high = 1.2, dose_low = 0.6, placebo = 0)[[arms3[i]]]
  data.frame(pid = sprintf("C%02d", i), arm = arms3[i], visit = v3,
             y = round(30 + rnorm(1, 0, 3) + slope * (0:3) + rnorm(4, 0, 2), 3))
}))
write.csv(three, file.path(out_dir, "sim_three_arm.csv"), row.names = FALSE)

fev <- read.csv(file.path(out_dir, "fev_data.csv"))  # the R package mmrm's fev_data (README.md)

fit_case <- function(name, data, formula, reml, group = NULL, time = NULL, dfile) {
  m <- lmer(as.formula(formula), data = data, REML = reml)
  s <- summary(m)
  cf <- s$coefficients
  vc <- as.data.frame(VarCorr(m))
  res <- list(
    name = name, data = dfile, formula = formula, reml = reml,
    n_obs = nobs(m), singular = isSingular(m),
    loglik = as.numeric(logLik(m)), aic = AIC(m), bic = BIC(m),
    intercept_var = vc$vcov[1], residual_var = vc$vcov[2],
    coefficients = data.frame(term = rownames(cf), estimate = cf[, "Estimate"],
                              se = cf[, "Std. Error"], df = cf[, "df"],
                              t = cf[, "t value"], p = cf[, "Pr(>|t|)"])
  )
  if (!is.null(time)) {
    a <- anova(m)
    it <- paste(group, time, sep = ":")
    m_ml <- if (reml) update(m, REML = FALSE) else m
    red <- update(m_ml, as.formula(paste(". ~ . -", it)))
    lr <- anova(red, m_ml)
    res$interaction <- list(f = a[it, "F value"], numdf = a[it, "NumDF"],
                            ddf = a[it, "DenDF"], p_f = a[it, "Pr(>F)"],
                            lr_chi2 = lr$Chisq[2], lr_df = lr$Df[2], p_lr = lr[2, "Pr(>Chisq)"])
    em <- emmeans(m, as.formula(paste("~", group, "|", time)), lmer.df = "satterthwaite")
    ct <- as.data.frame(summary(contrast(em, "trt.vs.ctrl")))
    res$contrasts <- data.frame(time = as.character(ct[[time]]), contrast = ct$contrast,
                                estimate = ct$estimate, se = ct$SE, df = ct$df, p = ct$p.value)
    ls <- as.data.frame(summary(em))
    res$lsmeans <- data.frame(group = as.character(ls[[group]]), time = as.character(ls[[time]]),
                              estimate = ls$emmean, se = ls$SE, df = ls$df)
  }
  res
}

cases <- list(
  fit_case("fev_ml", fev, "FEV1 ~ ARMCD * AVISIT + (1 | USUBJID)", FALSE,
           "ARMCD", "AVISIT", "fev_data.csv"),
  fit_case("fev_reml", fev, "FEV1 ~ ARMCD * AVISIT + (1 | USUBJID)", TRUE,
           "ARMCD", "AVISIT", "fev_data.csv"),
  fit_case("fev_cov_reml", fev, "FEV1 ~ RACE + FEV1_BL + ARMCD * AVISIT + (1 | USUBJID)", TRUE,
           "ARMCD", "AVISIT", "fev_data.csv"),
  fit_case("sim_ml", sim, "value ~ arm * visit + (1 | participant_id)", FALSE,
           "arm", "visit", "sim_trial_30x6.csv"),
  fit_case("sim_reml", sim, "value ~ arm * visit + (1 | participant_id)", TRUE,
           "arm", "visit", "sim_trial_30x6.csv"),
  fit_case("sim_chg_ml", subset(sim, visit != "d000"),
           "chg ~ base + arm * visit + (1 | participant_id)", FALSE,
           "arm", "visit", "sim_trial_30x6.csv"),
  fit_case("three_arm_ml", three, "y ~ arm * visit + (1 | pid)", FALSE, dfile = "sim_three_arm.csv"),
  fit_case("singular_ml", sing, "y ~ grp + time + (1 | id)", FALSE, dfile = "sim_singular.csv")
)
# 3-arm contrasts against placebo (estimates; emmeans' p are Dunnett-adjusted) and the mean
# of both doses against placebo (unadjusted)
m3 <- lmer(y ~ arm * visit + (1 | pid), data = three, REML = FALSE)
em3 <- emmeans(m3, ~ arm | visit, lmer.df = "satterthwaite")
vs_pbo <- as.data.frame(summary(contrast(em3, "trt.vs.ctrl", ref = "placebo")))
trend <- as.data.frame(summary(contrast(em3, list(doses = c(0.5, 0.5, -1)), adjust = "none")))
cases[[which(sapply(cases, `[[`, "name") == "three_arm_ml")]]$three_arm <- list(
  vs_placebo = data.frame(time = as.character(vs_pbo$visit), contrast = vs_pbo$contrast,
                          estimate = vs_pbo$estimate, se = vs_pbo$SE, df = vs_pbo$df,
                          p = vs_pbo$p.value),
  trend = data.frame(time = as.character(trend$visit), estimate = trend$estimate,
                     se = trend$SE, df = trend$df, p = trend$p.value))
writeLines(toJSON(cases, digits = NA, auto_unbox = TRUE, pretty = TRUE, dataframe = "rows"),
           file.path(out_dir, "lmm_fixtures.json"))
