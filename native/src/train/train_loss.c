/* The first backward step: loss and dL/dlogits, written to the logits' gradient buffer. */
#include "train_internal.h"

float tr_loss(esdk_trainer *t, int32_t label, const float *target) {
  esdk_tensor lr;
  const float *z = (const float *)tr_tensor(t->m, trw(t, H_LOGITS), &lr);
  float *g = tr_f32(t, trw(t, H_GLOGITS));
  uint32_t n = trw(t, H_NLOGITS), i;
  if (trw(t, H_LOSS) == 0) { /* softmax cross-entropy: g = softmax(z) - onehot(label) */
    float mx = z[0], s = 0.0f;
    for (i = 1; i < n; i++)
      if (z[i] > mx) mx = z[i];
    for (i = 0; i < n; i++) {
      g[i] = tr_exp(z[i] - mx);
      s += g[i];
    }
    for (i = 0; i < n; i++) g[i] = g[i] / s;
    g[label] -= 1.0f;
    return tr_log(s) - (z[label] - mx);
  } else { /* mean squared error: g = 2 (z - target) / n */
    float c = 2.0f / (float)n, l = 0.0f;
    for (i = 0; i < n; i++) {
      float d = z[i] - target[i];
      g[i] = d * c;
      l += d * d;
    }
    return l / (float)n;
  }
}
