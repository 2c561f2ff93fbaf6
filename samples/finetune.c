/* finetune.c: the tutorial's first experiment, "finetuning the ConvNet": a new head, every
 * layer trained with SGD (lr 0.001, momentum 0.9) and StepLR(7, 0.1), the best val epoch
 * kept and exported. Public C API only. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <opencv2/cltrain.h>

static void on_epoch(const cltrain_epoch_stats *e, void *user) {
  (void)user;
  printf("epoch %d/%d  train loss %.4f acc %.4f  val loss %.4f acc %.4f  (%.1f s)\n", e->epoch + 1, e->epochs,
         e->train_loss, e->train_acc, e->val_loss, e->val_acc, e->train_seconds + e->val_seconds);
}

int main(int argc, char **argv) {
  if (argc < 3 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
    printf("usage: finetune MODEL.onnx DATA_DIR [OUT.onnx] [EPOCHS]\n\n"
           "Fine-tunes every layer of MODEL.onnx (e.g. an ImageNet ResNet-18) on the ImageFolder pair\n"
           "DATA_DIR/train, DATA_DIR/val, as PyTorch's transfer-learning tutorial does, and exports\n"
           "the best val epoch to OUT.onnx (default finetuned.onnx). EPOCHS defaults to 25.\n"
           "The device: $CLTRAIN_DEVICE, else the first GPU, else the first CPU.\n");
    return argc < 3 ? 2 : 0;
  }
  cltrain_context *cx = NULL;
  cltrain_status st = cltrain_context_create(NULL, &cx);
  if (st != CLTRAIN_OK) {
    fprintf(stderr, "%s\n  %s\n", cltrain_status_str(st), cltrain_last_error(NULL));
    return 1;
  }
  cltrain_train_options o = cltrain_train_defaults(); /* freeze "none": every layer trains */
  o.model_path = argv[1];
  o.data_dir = argv[2];
  o.out_path = argc > 3 ? argv[3] : "finetuned.onnx";
  if (argc > 4) o.epochs = atoi(argv[4]);
  o.on_epoch = on_epoch;
  cltrain_train_result r = cltrain_train_result_init();
  st = cltrain_train_run(cx, &o, &r);
  if (st != CLTRAIN_OK) {
    fprintf(stderr, "%s\n  %s\n", cltrain_status_str(st), cltrain_last_error(cx));
    cltrain_context_destroy(cx);
    return 1;
  }
  printf("best val acc %.4f (epoch %d), exported %s\n", r.best_val_acc, r.best_epoch, o.out_path);
  cltrain_context_destroy(cx);
  return 0;
}
