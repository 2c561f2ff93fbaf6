/* train.c: transfer-learning controls on a cltrain_model: the freeze spec, a new seeded head,
 * SGD steps on the trainable tensors (torch.optim.SGD), and StepLR. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/model.h"
#include "model/model_impl.h"
#include "core/rng.h"
#include "ops/sgd.h"

static int head_stage(const cltrain_model *m) { return m->g.nstages + 1; }

/* Marks in f[] the parameter layers `sel` selects (a name prefix or an alias); returns how
 * many it selected, or -1 when out of memory. */
static int mark(const cltrain_model *m, const char *sel, unsigned char *f) {
  int count = graph_select(&m->g, sel, NULL, 0), marked = 0;
  if (count <= 0) return 0;
  int *idx = malloc(sizeof(int) * (size_t)count);
  if (!idx) return -1;
  graph_select(&m->g, sel, idx, count);
  for (int k = 0; k < count; k++)
    if (model_has_params(&m->g.nodes[idx[k]])) f[idx[k]] = 1, marked++;
  free(idx);
  return marked;
}

cltrain_status cltrain_model_freeze(cltrain_model *m, const char *spec) {
  if (!m || !spec) return rt_fail(m ? m->cx : NULL, CLTRAIN_ERR_ARG, "cltrain_model_freeze: NULL model or spec");
  int n = m->g.n;
  unsigned char *f = calloc((size_t)n, 1);
  if (!f) return rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
  cltrain_status st = CLTRAIN_OK;
  if (!strcmp(spec, "none")) {
    /* nothing frozen */
  } else if (!strcmp(spec, "all")) {
    for (int i = 0; i < n; i++) f[i] = model_has_params(&m->g.nodes[i]) && m->g.nodes[i].stage != head_stage(m);
  } else if (!strncmp(spec, "upto:", 5)) {
    int first = -1;
    if (spec[5] && (graph_select(&m->g, spec + 5, &first, 1) > 0 || (first = graph_find_module(&m->g, spec + 5)) > 0)) {
      for (int i = 0; i < first; i++) f[i] = model_has_params(&m->g.nodes[i]);
    } else {
      st = rt_fail(m->cx, CLTRAIN_ERR_ARG,
                   "freeze spec '%s': no layer is named '%s' (see `cltrain info` for the names)", spec, spec + 5);
    }
  } else {
    char *copy = strdup(spec), *save = NULL;
    if (!copy) st = rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
    for (char *tok = copy ? strtok_r(copy, ",", &save) : NULL; tok && !st; tok = strtok_r(NULL, ",", &save)) {
      int r = mark(m, tok, f);
      if (r < 0) st = rt_fail(m->cx, CLTRAIN_ERR_OUT_OF_MEMORY, "out of host memory");
      else if (r == 0)
        st = rt_fail(m->cx, CLTRAIN_ERR_ARG,
                     "freeze spec '%s': '%s' matches no parameter layer (use none, all, upto:NAME, "
                     "or name prefixes and the aliases stem, stage1..stage%d, head)", spec, tok, m->g.nstages);
    }
    free(copy);
    if (!st && !strlen(spec)) st = rt_fail(m->cx, CLTRAIN_ERR_ARG, "freeze spec is empty");
  }
  if (!st && memcmp(m->frozen, f, (size_t)n)) {
    memcpy(m->frozen, f, (size_t)n);
    m->planned_backward = 0; /* what backward keeps depends on the frozen set: plan again */
  }
  free(f);
  return st;
}

cltrain_status cltrain_model_is_frozen(const cltrain_model *m, const char *name, int *frozen) {
  if (!m || !name || !frozen) return rt_fail(m ? m->cx : NULL, CLTRAIN_ERR_ARG, "cltrain_model_is_frozen: NULL argument");
  int i = graph_find(&m->g, name);
  if (i < 0 || !model_has_params(&m->g.nodes[i]))
    return rt_fail(m->cx, CLTRAIN_ERR_ARG, "the model has no parameter layer named '%s'", name);
  *frozen = m->frozen[i];
  return CLTRAIN_OK;
}

cltrain_status cltrain_model_set_frozen_bn(cltrain_model *m, cltrain_frozen_bn mode) {
  if (!m || (mode != CLTRAIN_FROZEN_BN_EVAL && mode != CLTRAIN_FROZEN_BN_TRAIN))
    return rt_fail(m ? m->cx : NULL, CLTRAIN_ERR_ARG, "cltrain_model_set_frozen_bn: bad model or mode");
  m->frozen_bn = mode;
  return CLTRAIN_OK;
}

/* ---- SGD and StepLR ---- */

cltrain_sgd_options cltrain_sgd_defaults(void) {
  cltrain_sgd_options o = {sizeof o, 0.001, 0.9, 0.0, 0.0, 0, 1.0};
  return o;
}

/* The sizes cltrain_sgd_options has had (cltrain.h, "Stability"). */
static const size_t sgd_sizes[] = {sizeof(cltrain_sgd_options)};

cltrain_status cltrain_model_sgd_step(cltrain_model *m, const cltrain_sgd_options *in) {
  if (!m || !in) return rt_fail(m ? m->cx : NULL, CLTRAIN_ERR_ARG, "cltrain_model_sgd_step: NULL argument");
  cltrain_sgd_options full = cltrain_sgd_defaults(), *o = &full;
  TRY(rt_options_in(m->cx, "cltrain_sgd_options", in, &full, sgd_sizes, 1));
  double lr = o->lr;
  if (!(o->backbone_lr_mult >= 0) || !(lr >= 0) || !isfinite(lr) || !isfinite(o->backbone_lr_mult))
    return rt_fail(m->cx, CLTRAIN_ERR_ARG,
                   "SGD: the learning rate (%g) and the backbone's learning-rate multiplier (%g) must be "
                   "finite and >= 0", lr, o->backbone_lr_mult);
  sgd_params h = {(float)lr, (float)o->momentum, (float)o->dampening, (float)o->weight_decay, o->nesterov};
  TRY(sgd_check_params(m->cx, &h));
  for (int t = 0; t < m->ntensors; t++) {
    const model_tensor *tt = &m->tensors[t];
    const graph_node *nd = &m->g.nodes[tt->node];
    if (!tt->learnable || m->frozen[tt->node]) continue;
    /* torch's per-group lr is a double multiplied before the float kernel sees it */
    h.lr = (float)(nd->stage == head_stage(m) ? lr : lr * o->backbone_lr_mult);
    TRY(sgd_update(m->cx, (buf){m->params, tt->off}, (buf){m->momentum, tt->off}, (buf){m->grads, tt->off},
                   tt->count, &h, !m->has_momentum[t]));
    m->has_momentum[t] = o->momentum != 0;
  }
  return CLTRAIN_OK;
}

double cltrain_steplr_lr(double base_lr, int step_size, double gamma, int epoch) {
  /* StepLR's closed form is base * gamma^(epoch // step); PyTorch's step() multiplies the
   * running lr by gamma at each boundary, which rounds differently: do the same. */
  double lr = base_lr;
  if (step_size < 1) return lr;
  for (int e = 1; e <= epoch; e++)
    if (e % step_size == 0) lr *= gamma;
  return lr;
}
