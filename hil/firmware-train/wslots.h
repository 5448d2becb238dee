/* Updated weights in flash, two alternating slots. A record is a 16-byte header (magic,
   sequence number, payload size, payload CRC-32, steps done) + the parameter blob. A save
   writes the older slot: erase, payload, then the header with the magic written last, so
   a power cut at any byte leaves that slot invalid and the other one (the previous good
   weights) in force. Boot picks the valid slot with the highest sequence number. */
#ifndef ESDK_FWT_WSLOTS_H
#define ESDK_FWT_WSLOTS_H
#include <stddef.h>
#include <stdint.h>
#define WSLOT_MAGIC 0x544C5357u /* "WSLT" */
typedef struct {
  uint32_t magic, seq, size, crc, steps;
} wslot_header;
/* -1 none valid, else the slot index; fills *h */
int wslot_newest(size_t size, wslot_header *h);
const uint8_t *wslot_payload(int slot);
/* returns the sequence number written; cut_at >= 0 simulates a power cut after that many
   bytes of the write (the firmware then hangs until the host kills it) */
uint32_t wslot_save(const void *blob, size_t size, uint32_t steps, int32_t cut_at);
size_t wslot_capacity(void);
#endif
