/*
 * cacheline_rtt.c: the round trip of a cache line between CPU 0 and CPU 1,
 * two threads pinned to them bouncing a counter. Prints, ten times 300 ms
 * apart, the best, 10th percentile and median of 200 windows of 1000 round
 * trips: on a VM whose host moves the vCPUs, the figure moves with them
 * (BENCHMARKS.md says what it does to the rings).
 *
 *   gcc -O2 -pthread scripts/cacheline_rtt.c -o /tmp/rtt && /tmp/rtt
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdatomic.h>
#include <time.h>
static _Alignas(64) atomic_long a;
static _Alignas(64) atomic_long bb;
static atomic_int stop;
enum { W = 200, PER = 1000 };
static void pin(int c){cpu_set_t s;CPU_ZERO(&s);CPU_SET(c,&s);pthread_setaffinity_np(pthread_self(),sizeof s,&s);}
static void *peer(void *x){pin(1);long i=1;for(;;){long v;while((v=atomic_load(&a))<i){if(atomic_load(&stop))return 0;}atomic_store(&bb,v);i=v+1;}return 0;}
static int cmp(const void*x,const void*y){double a=*(double*)x,b=*(double*)y;return a<b?-1:a>b;}
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec*1e9+t.tv_nsec;}
int main(){
  for(int rep=0;rep<10;rep++){
    atomic_store(&a,0);atomic_store(&bb,0);atomic_store(&stop,0);
    pthread_t t;pthread_create(&t,0,peer,0);pin(0);
    double w[W];long i=0;
    for(int k=0;k<W;k++){double t0=now();for(int j=0;j<PER;j++){i++;atomic_store(&a,i);while(atomic_load(&bb)!=i);}w[k]=(now()-t0)/PER;}
    atomic_store(&stop,1);atomic_store(&a,1L<<60);pthread_join(t,0);
    qsort(w,W,sizeof w[0],cmp);
    printf("rtt min %.0f ns, p10 %.0f, median %.0f\n",w[0],w[W/10],w[W/2]);
    struct timespec d={0,300000000};nanosleep(&d,0);
  }
}
